//! The `miners` and `epistula_requests` tables.

use sqlx::{Any, Executor, FromRow};

use crate::clock::Millis;

#[derive(Clone, Debug, FromRow)]
pub struct MinerRow {
    pub id: String,
    pub hotkey: String,
    pub task_types: String,
    pub max_parameters: i64,
    pub suspended_reason: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

const COLUMNS: &str =
    "id, hotkey, task_types, max_parameters, suspended_reason, created_at, updated_at";

/// Records the miner's declaration: a new row for a new hotkey, an updated one otherwise.
pub async fn upsert<'e>(
    exec: impl Executor<'e, Database = Any>,
    row: &MinerRow,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO miners (id, hotkey, task_types, max_parameters, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (hotkey) DO UPDATE SET task_types = excluded.task_types, \
         max_parameters = excluded.max_parameters, updated_at = excluded.updated_at",
    )
    .bind(&row.id)
    .bind(&row.hotkey)
    .bind(&row.task_types)
    .bind(row.max_parameters)
    .bind(row.created_at)
    .bind(row.updated_at)
    .execute(exec)
    .await?;
    Ok(())
}

pub async fn by_hotkey<'e>(
    exec: impl Executor<'e, Database = Any>,
    hotkey: &str,
) -> sqlx::Result<Option<MinerRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM miners WHERE hotkey = $1"))
        .bind(hotkey)
        .fetch_optional(exec)
        .await
}

/// Whether a signed request's uuid was seen before.
pub async fn request_seen<'e>(
    exec: impl Executor<'e, Database = Any>,
    uuid: &str,
) -> sqlx::Result<bool> {
    let found: Option<(String,)> =
        sqlx::query_as("SELECT uuid FROM epistula_requests WHERE uuid = $1")
            .bind(uuid)
            .fetch_optional(exec)
            .await?;
    Ok(found.is_some())
}

/// Remembers a signed request's uuid; false when it was seen before (a replay).
pub async fn note_request<'e>(
    exec: impl Executor<'e, Database = Any>,
    uuid: &str,
    hotkey: &str,
    now: Millis,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO epistula_requests (uuid, hotkey, seen_at) VALUES ($1, $2, $3) \
         ON CONFLICT (uuid) DO NOTHING",
    )
    .bind(uuid)
    .bind(hotkey)
    .bind(now)
    .execute(exec)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Forgets request uuids seen before `before`: older signatures are refused by their time anyway.
pub async fn forget_requests<'e>(
    exec: impl Executor<'e, Database = Any>,
    before: Millis,
) -> sqlx::Result<u64> {
    let done = sqlx::query("DELETE FROM epistula_requests WHERE seen_at < $1")
        .bind(before)
        .execute(exec)
        .await?;
    Ok(done.rows_affected())
}

/// Sets (or with `None` clears) the miner's suspension; false when no miner has the hotkey.
pub async fn set_suspension<'e>(
    exec: impl Executor<'e, Database = Any>,
    hotkey: &str,
    reason: Option<&str>,
    now: Millis,
) -> sqlx::Result<bool> {
    let done =
        sqlx::query("UPDATE miners SET suspended_reason = $1, updated_at = $2 WHERE hotkey = $3")
            .bind(reason)
            .bind(now)
            .bind(hotkey)
            .execute(exec)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// Links the miner with `hotkey` to the account `owner_id`, unless another account holds it; false
/// then.
pub async fn link_owner<'e>(
    exec: impl Executor<'e, Database = Any>,
    hotkey: &str,
    owner_id: &str,
    now: Millis,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE miners SET owner_id = $1, updated_at = $2 \
         WHERE hotkey = $3 AND (owner_id IS NULL OR owner_id = $1)",
    )
    .bind(owner_id)
    .bind(now)
    .bind(hotkey)
    .execute(exec)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The miners linked to the account, oldest first.
pub async fn owned_by<'e>(
    exec: impl Executor<'e, Database = Any>,
    owner_id: &str,
) -> sqlx::Result<Vec<MinerRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM miners WHERE owner_id = $1 ORDER BY created_at, id"
    ))
    .bind(owner_id)
    .fetch_all(exec)
    .await
}

/// The account the miner is linked to, if any.
pub async fn owner_of<'e>(
    exec: impl Executor<'e, Database = Any>,
    miner_id: &str,
) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT owner_id FROM miners WHERE id = $1")
        .bind(miner_id)
        .fetch_optional(exec)
        .await
        .map(Option::flatten)
}

/// Every miner, newest first.
pub async fn all<'e>(exec: impl Executor<'e, Database = Any>) -> sqlx::Result<Vec<MinerRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM miners ORDER BY created_at DESC, id"
    ))
    .fetch_all(exec)
    .await
}
