//! The `admin_actions` table: the admins' audit log.

use sqlx::{Any, Executor, FromRow};

use crate::clock::Millis;

#[derive(Clone, Debug, FromRow)]
pub struct AdminActionRow {
    pub id: String,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub detail: String,
    pub at: Millis,
}

pub async fn insert<'e>(
    exec: impl Executor<'e, Database = Any>,
    row: &AdminActionRow,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO admin_actions (id, actor, action, subject, detail, at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&row.id)
    .bind(&row.actor)
    .bind(&row.action)
    .bind(&row.subject)
    .bind(&row.detail)
    .bind(row.at)
    .execute(exec)
    .await?;
    Ok(())
}

/// The latest actions, newest first.
pub async fn recent<'e>(
    exec: impl Executor<'e, Database = Any>,
    limit: i64,
) -> sqlx::Result<Vec<AdminActionRow>> {
    sqlx::query_as(
        "SELECT id, actor, action, subject, detail, at FROM admin_actions ORDER BY at DESC, id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(exec)
    .await
}
