//! The `webhooks` and `webhook_deliveries` tables.

use sqlx::{Any, Executor, FromRow};

use crate::clock::Millis;

#[derive(Clone, Debug, FromRow)]
pub struct WebhookRow {
    pub id: String,
    pub owner_id: String,
    pub url: String,
    pub secret: String,
    pub created_at: Millis,
}

#[derive(Clone, Debug, FromRow)]
pub struct DeliveryRow {
    pub id: String,
    pub webhook_id: String,
    pub task_id: String,
    pub event: String,
    pub payload: String,
    pub attempts: i64,
    /// `pending`, `delivered` or `failed`.
    pub state: crate::states::DeliveryState,
    pub last_answer: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

const DELIVERY: &str =
    "id, webhook_id, task_id, event, payload, attempts, state, last_answer, created_at, updated_at";

pub async fn insert<'e>(
    exec: impl Executor<'e, Database = Any>,
    row: &WebhookRow,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO webhooks (id, owner_id, url, secret, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&row.id)
    .bind(&row.owner_id)
    .bind(&row.url)
    .bind(&row.secret)
    .bind(row.created_at)
    .execute(exec)
    .await?;
    Ok(())
}

pub async fn for_owner<'e>(
    exec: impl Executor<'e, Database = Any>,
    owner_id: &str,
) -> sqlx::Result<Vec<WebhookRow>> {
    sqlx::query_as(
        "SELECT id, owner_id, url, secret, created_at FROM webhooks WHERE owner_id = $1 ORDER BY created_at, id",
    )
    .bind(owner_id)
    .fetch_all(exec)
    .await
}

pub async fn by_id<'e>(
    exec: impl Executor<'e, Database = Any>,
    id: &str,
) -> sqlx::Result<Option<WebhookRow>> {
    sqlx::query_as("SELECT id, owner_id, url, secret, created_at FROM webhooks WHERE id = $1")
        .bind(id)
        .fetch_optional(exec)
        .await
}

/// Webhooks whose secret is not sealed (stored before secrets were): `(id, secret)`.
pub async fn unsealed<'e>(
    exec: impl Executor<'e, Database = Any>,
    sealed_prefix: &str,
) -> sqlx::Result<Vec<(String, String)>> {
    sqlx::query_as("SELECT id, secret FROM webhooks WHERE secret NOT LIKE $1")
        .bind(format!("{sealed_prefix}%"))
        .fetch_all(exec)
        .await
}

/// Replaces webhook `id`'s stored secret `old` with `new`; false when it was changed meanwhile.
pub async fn replace_secret<'e>(
    exec: impl Executor<'e, Database = Any>,
    id: &str,
    old: &str,
    new: &str,
) -> sqlx::Result<bool> {
    let done = sqlx::query("UPDATE webhooks SET secret = $1 WHERE id = $2 AND secret = $3")
        .bind(new)
        .bind(id)
        .bind(old)
        .execute(exec)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes the owner's webhook; false when there is none.
pub async fn delete<'e>(
    exec: impl Executor<'e, Database = Any>,
    owner_id: &str,
    id: &str,
) -> sqlx::Result<bool> {
    let done = sqlx::query("DELETE FROM webhooks WHERE id = $1 AND owner_id = $2")
        .bind(id)
        .bind(owner_id)
        .execute(exec)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Records a delivery to make; false when this webhook has one for this task's event already.
pub async fn insert_delivery<'e>(
    exec: impl Executor<'e, Database = Any>,
    row: &DeliveryRow,
) -> sqlx::Result<bool> {
    let done = sqlx::query(&format!(
        "INSERT INTO webhook_deliveries ({DELIVERY}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (webhook_id, task_id, event) DO NOTHING"
    ))
    .bind(&row.id)
    .bind(&row.webhook_id)
    .bind(&row.task_id)
    .bind(&row.event)
    .bind(&row.payload)
    .bind(row.attempts)
    .bind(row.state)
    .bind(&row.last_answer)
    .bind(row.created_at)
    .bind(row.updated_at)
    .execute(exec)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn delivery<'e>(
    exec: impl Executor<'e, Database = Any>,
    id: &str,
) -> sqlx::Result<Option<DeliveryRow>> {
    sqlx::query_as(&format!(
        "SELECT {DELIVERY} FROM webhook_deliveries WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(exec)
    .await
}

pub async fn deliveries<'e>(
    exec: impl Executor<'e, Database = Any>,
    webhook_id: &str,
) -> sqlx::Result<Vec<DeliveryRow>> {
    sqlx::query_as(&format!(
        "SELECT {DELIVERY} FROM webhook_deliveries WHERE webhook_id = $1 ORDER BY created_at DESC, id"
    ))
    .bind(webhook_id)
    .fetch_all(exec)
    .await
}

/// Records an attempt's answer while the delivery is pending.
pub async fn record_attempt<'e>(
    exec: impl Executor<'e, Database = Any>,
    id: &str,
    attempts: i64,
    state: crate::states::DeliveryState,
    answer: &str,
    now: Millis,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE webhook_deliveries SET attempts = $1, state = $2, last_answer = $3, updated_at = $4 \
         WHERE id = $5 AND state = 'pending'",
    )
    .bind(attempts)
    .bind(state)
    .bind(answer)
    .bind(now)
    .bind(id)
    .execute(exec)
    .await?;
    Ok(())
}
