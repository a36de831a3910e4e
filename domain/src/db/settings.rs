//! The `settings` table: deployment-wide values created once and shared by every replica.

use sqlx::{Any, Executor};

/// The value stored under `name`, storing `proposed` first if there is none. Replicas starting at once
/// all get the value of whichever inserted first.
pub async fn get_or_insert<'e, E>(exec: E, name: &str, proposed: &str) -> sqlx::Result<String>
where
    E: Executor<'e, Database = Any> + Copy,
{
    sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
        .bind(name)
        .bind(proposed)
        .execute(exec)
        .await?;
    sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
        .bind(name)
        .fetch_one(exec)
        .await
}
