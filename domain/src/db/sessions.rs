//! The `sessions` table behind tower-sessions: one row per browser session, its data as JSON.

use sqlx::{Any, Executor};

use crate::clock::Millis;

/// Inserts a session; returns false when the id is taken.
pub async fn insert<'e>(
    exec: impl Executor<'e, Database = Any>,
    id: &str,
    data: &str,
    expires_at: Millis,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO sessions (id, data, expires_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
    )
    .bind(id)
    .bind(data)
    .bind(expires_at)
    .execute(exec)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn upsert<'e>(
    exec: impl Executor<'e, Database = Any>,
    id: &str,
    data: &str,
    expires_at: Millis,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO sessions (id, data, expires_at) VALUES ($1, $2, $3) \
         ON CONFLICT (id) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at",
    )
    .bind(id)
    .bind(data)
    .bind(expires_at)
    .execute(exec)
    .await?;
    Ok(())
}

/// The session's data, unless it is missing or expired at `now`.
pub async fn live<'e>(
    exec: impl Executor<'e, Database = Any>,
    id: &str,
    now: Millis,
) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT data FROM sessions WHERE id = $1 AND expires_at > $2")
        .bind(id)
        .bind(now)
        .fetch_optional(exec)
        .await
}

pub async fn delete<'e>(exec: impl Executor<'e, Database = Any>, id: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM sessions WHERE id = $1")
        .bind(id)
        .execute(exec)
        .await?;
    Ok(())
}

/// Removes sessions that expired before `now`; returns how many.
pub async fn delete_expired<'e>(
    exec: impl Executor<'e, Database = Any>,
    now: Millis,
) -> sqlx::Result<u64> {
    let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
        .bind(now)
        .execute(exec)
        .await?;
    Ok(done.rows_affected())
}
