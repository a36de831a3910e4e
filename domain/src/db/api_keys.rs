//! The `api_keys` table. Only a SHA-256 of each key is stored; the key itself is shown once.

use sqlx::{Any, Executor, FromRow};

use super::users::UserRow;
use crate::clock::Millis;

#[derive(Clone, Debug, FromRow)]
pub struct ApiKeyRow {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub prefix: String,
    pub created_at: Millis,
    pub last_used_at: Option<Millis>,
    pub revoked_at: Option<Millis>,
}

pub async fn insert<'e>(
    exec: impl Executor<'e, Database = Any>,
    key: &ApiKeyRow,
    key_hash: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO api_keys (id, user_id, name, prefix, key_hash, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&key.id)
    .bind(&key.user_id)
    .bind(&key.name)
    .bind(&key.prefix)
    .bind(key_hash)
    .bind(key.created_at)
    .execute(exec)
    .await?;
    Ok(())
}

/// The user's keys, newest first, revoked ones included.
pub async fn for_user<'e>(
    exec: impl Executor<'e, Database = Any>,
    user_id: &str,
) -> sqlx::Result<Vec<ApiKeyRow>> {
    sqlx::query_as(
        "SELECT id, user_id, name, prefix, created_at, last_used_at, revoked_at FROM api_keys \
         WHERE user_id = $1 ORDER BY created_at DESC, id DESC",
    )
    .bind(user_id)
    .fetch_all(exec)
    .await
}

/// Marks the key revoked; returns false when the user has no such live key.
pub async fn revoke<'e>(
    exec: impl Executor<'e, Database = Any>,
    user_id: &str,
    key_id: &str,
    at: Millis,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL",
    )
    .bind(at)
    .bind(key_id)
    .bind(user_id)
    .execute(exec)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The owner of a live (unrevoked) key with this hash, noting the key's use.
pub async fn use_key<'e, E>(exec: E, key_hash: &str, at: Millis) -> sqlx::Result<Option<UserRow>>
where
    E: Executor<'e, Database = Any> + Copy,
{
    let owner: Option<UserRow> = sqlx::query_as(
        "SELECT u.id, u.email, u.password_hash, u.role, u.created_at FROM api_keys k \
         JOIN users u ON u.id = k.user_id WHERE k.key_hash = $1 AND k.revoked_at IS NULL",
    )
    .bind(key_hash)
    .fetch_optional(exec)
    .await?;
    if owner.is_some() {
        sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE key_hash = $2")
            .bind(at)
            .bind(key_hash)
            .execute(exec)
            .await?;
    }
    Ok(owner)
}
