//! The `sign_in_failures` table: recent failed sign-ins per email, for throttling.

use sqlx::{Any, Executor};

use crate::clock::Millis;

pub async fn record<'e>(
    exec: impl Executor<'e, Database = Any>,
    email: &str,
    at: Millis,
) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO sign_in_failures (id, email, at) VALUES ($1, $2, $3)")
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(email)
        .bind(at)
        .execute(exec)
        .await?;
    Ok(())
}

/// How many failures `email` had since `since`, and the time of the oldest of them.
pub async fn since<'e>(
    exec: impl Executor<'e, Database = Any>,
    email: &str,
    since: Millis,
) -> sqlx::Result<(i64, Option<Millis>)> {
    sqlx::query_as("SELECT COUNT(*), MIN(at) FROM sign_in_failures WHERE email = $1 AND at > $2")
        .bind(email)
        .bind(since)
        .fetch_one(exec)
        .await
}

/// Forgets the failures of `email` and, for every account, those older than `before`.
pub async fn clear<'e>(
    exec: impl Executor<'e, Database = Any>,
    email: &str,
    before: Millis,
) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM sign_in_failures WHERE email = $1 OR at <= $2")
        .bind(email)
        .bind(before)
        .execute(exec)
        .await?;
    Ok(())
}
