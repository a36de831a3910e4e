//! The `users` table.

use sqlx::{Any, Executor, FromRow};

use crate::clock::Millis;

#[derive(Clone, Debug, FromRow)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub password_hash: String,
    pub role: String,
    pub created_at: Millis,
}

/// Holds the user's row until the transaction ends (a write lock on both databases), so that checks
/// of the user's totals and the writes they allow happen one upload at a time.
pub async fn hold<'e>(exec: impl Executor<'e, Database = Any>, id: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE users SET id = id WHERE id = $1")
        .bind(id)
        .execute(exec)
        .await?;
    Ok(())
}

pub async fn insert<'e>(
    exec: impl Executor<'e, Database = Any>,
    user: &UserRow,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO users (id, email, password_hash, role, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&user.id)
    .bind(&user.email)
    .bind(&user.password_hash)
    .bind(&user.role)
    .bind(user.created_at)
    .execute(exec)
    .await?;
    Ok(())
}

pub async fn by_email<'e>(
    exec: impl Executor<'e, Database = Any>,
    email: &str,
) -> sqlx::Result<Option<UserRow>> {
    sqlx::query_as("SELECT id, email, password_hash, role, created_at FROM users WHERE email = $1")
        .bind(email)
        .fetch_optional(exec)
        .await
}

pub async fn by_id<'e>(
    exec: impl Executor<'e, Database = Any>,
    id: &str,
) -> sqlx::Result<Option<UserRow>> {
    sqlx::query_as("SELECT id, email, password_hash, role, created_at FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(exec)
        .await
}
