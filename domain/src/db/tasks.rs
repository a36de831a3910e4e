//! The `tasks` and `task_events` tables.

use sqlx::{Any, Executor, FromRow};

use super::Backend;
use crate::clock::Millis;

#[derive(Clone, Debug, FromRow)]
pub struct TaskRow {
    pub id: String,
    pub owner_id: String,
    pub dataset_id: String,
    pub task_type: String,
    pub model_id: String,
    pub hours_to_complete: i64,
    pub state: String,
    pub pool_min: i64,
    pub pool_max: i64,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub round: i64,
    pub offers_close_at: Option<Millis>,
    pub window_starts_at: Option<Millis>,
    pub deadline_at: Option<Millis>,
    /// The champion's recipe that trains the task, in champion mode; none for a miner pool.
    pub trainer_recipe_id: Option<String>,
    /// Where the splits it trains and is scored on lie (`datasets::dataset::Splits`).
    pub splits_prefix: Option<String>,
    /// A GRPO task's reward functions and weights, as JSON.
    pub reward_functions: Option<String>,
    /// The submission the customer receives, once the task has succeeded.
    pub winner_submission_id: Option<String>,
    /// The base model's own held-out loss, once measured (read, never inserted).
    #[sqlx(default)]
    pub base_loss: Option<f64>,
}

#[derive(Clone, Debug, FromRow)]
pub struct EventRow {
    pub id: String,
    pub task_id: String,
    pub from_state: Option<String>,
    pub to_state: String,
    pub reason: String,
    pub at: Millis,
}

const COLUMNS: &str = "id, owner_id, dataset_id, task_type, model_id, hours_to_complete, state, \
                       pool_min, pool_max, created_at, updated_at, round, offers_close_at, \
                       window_starts_at, deadline_at, trainer_recipe_id, splits_prefix, reward_functions, \
                       winner_submission_id";

/// Records the task's base model's held-out loss, unless one is recorded already (a job run twice).
pub async fn record_base_loss<'e>(
    exec: impl Executor<'e, Database = Any>,
    id: &str,
    loss: f64,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE tasks SET base_loss = $1 WHERE id = $2 AND base_loss IS NULL")
        .bind(loss)
        .bind(id)
        .execute(exec)
        .await?;
    Ok(())
}

pub async fn insert<'e>(
    exec: impl Executor<'e, Database = Any>,
    row: &TaskRow,
) -> sqlx::Result<()> {
    sqlx::query(&format!(
        "INSERT INTO tasks ({COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"
    ))
    .bind(&row.id)
    .bind(&row.owner_id)
    .bind(&row.dataset_id)
    .bind(&row.task_type)
    .bind(&row.model_id)
    .bind(row.hours_to_complete)
    .bind(&row.state)
    .bind(row.pool_min)
    .bind(row.pool_max)
    .bind(row.created_at)
    .bind(row.updated_at)
    .bind(row.round)
    .bind(row.offers_close_at)
    .bind(row.window_starts_at)
    .bind(row.deadline_at)
    .bind(&row.trainer_recipe_id)
    .bind(&row.splits_prefix)
    .bind(&row.reward_functions)
    .bind(&row.winner_submission_id)
    .execute(exec)
    .await?;
    Ok(())
}

pub async fn by_id<'e>(
    exec: impl Executor<'e, Database = Any>,
    id: &str,
) -> sqlx::Result<Option<TaskRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS}, base_loss FROM tasks WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(exec)
    .await
}

pub async fn for_owner<'e>(
    exec: impl Executor<'e, Database = Any>,
    owner_id: &str,
) -> sqlx::Result<Vec<TaskRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS}, base_loss FROM tasks WHERE owner_id = $1 ORDER BY created_at DESC, id DESC"
    ))
    .bind(owner_id)
    .fetch_all(exec)
    .await
}

/// The latest `limit` tasks of every owner, newest first.
pub async fn recent<'e>(
    exec: impl Executor<'e, Database = Any>,
    limit: i64,
) -> sqlx::Result<Vec<TaskRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS}, base_loss FROM tasks ORDER BY created_at DESC, id DESC LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(exec)
    .await
}

/// Moves the task from `from` to `to`; false when it is no longer in `from` (someone else moved it).
pub async fn change_state<'e>(
    exec: impl Executor<'e, Database = Any>,
    id: &str,
    from: &str,
    to: &str,
    now: Millis,
) -> sqlx::Result<bool> {
    let done =
        sqlx::query("UPDATE tasks SET state = $1, updated_at = $2 WHERE id = $3 AND state = $4")
            .bind(to)
            .bind(now)
            .bind(id)
            .bind(from)
            .execute(exec)
            .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn insert_event<'e>(
    exec: impl Executor<'e, Database = Any>,
    event: &EventRow,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO task_events (id, task_id, from_state, to_state, reason, at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&event.id)
    .bind(&event.task_id)
    .bind(&event.from_state)
    .bind(&event.to_state)
    .bind(&event.reason)
    .bind(event.at)
    .execute(exec)
    .await?;
    Ok(())
}

/// An ended task's event, waiting in the outbox to be announced.
#[derive(Clone, Debug, FromRow)]
pub struct OutboxRow {
    pub event_id: String,
    pub task_id: String,
    pub state: String,
    pub reason: String,
    pub at: Millis,
}

/// Puts `event` (a move to an end state) in the outbox, in the caller's transaction.
pub async fn insert_outbox<'e>(
    exec: impl Executor<'e, Database = Any>,
    event: &EventRow,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO task_outbox (event_id, task_id, state, reason, at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&event.id)
    .bind(&event.task_id)
    .bind(&event.to_state)
    .bind(&event.reason)
    .bind(event.at)
    .execute(exec)
    .await?;
    Ok(())
}

/// The oldest events waiting in the outbox.
pub async fn outbox<'e>(
    exec: impl Executor<'e, Database = Any>,
    limit: i64,
) -> sqlx::Result<Vec<OutboxRow>> {
    sqlx::query_as(
        "SELECT event_id, task_id, state, reason, at FROM task_outbox ORDER BY at, event_id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(exec)
    .await
}

/// Takes `event_id` out of the outbox; false when another relay took it first.
pub async fn take_from_outbox<'e>(
    exec: impl Executor<'e, Database = Any>,
    event_id: &str,
) -> sqlx::Result<bool> {
    let done = sqlx::query("DELETE FROM task_outbox WHERE event_id = $1")
        .bind(event_id)
        .execute(exec)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The task's events, oldest first.
pub async fn events<'e>(
    exec: impl Executor<'e, Database = Any>,
    task_id: &str,
) -> sqlx::Result<Vec<EventRow>> {
    sqlx::query_as(
        "SELECT id, task_id, from_state, to_state, reason, at FROM task_events \
         WHERE task_id = $1 ORDER BY at, id",
    )
    .bind(task_id)
    .fetch_all(exec)
    .await
}

/// Claims the sending of round `round`'s offers by recording when they close; false when the round's
/// offers were sent already (by another worker) or the task moved on.
pub async fn claim_round<'e>(
    exec: impl Executor<'e, Database = Any>,
    id: &str,
    round: i64,
    close_at: Millis,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE tasks SET offers_close_at = $1 WHERE id = $2 AND round = $3 \
         AND offers_close_at IS NULL AND state = 'looking_for_nodes'",
    )
    .bind(close_at)
    .bind(id)
    .bind(round)
    .execute(exec)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Starts the next fan-out round.
pub async fn next_round<'e>(exec: impl Executor<'e, Database = Any>, id: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE tasks SET round = round + 1, offers_close_at = NULL WHERE id = $1")
        .bind(id)
        .execute(exec)
        .await?;
    Ok(())
}

/// Records the training window.
pub async fn set_window<'e>(
    exec: impl Executor<'e, Database = Any>,
    id: &str,
    starts_at: Millis,
    deadline_at: Millis,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE tasks SET window_starts_at = $1, deadline_at = $2 WHERE id = $3")
        .bind(starts_at)
        .bind(deadline_at)
        .bind(id)
        .execute(exec)
        .await?;
    Ok(())
}

/// Holds task `id`'s window open for the rest of the caller's transaction: locks the task's row if
/// the task is `training` and its deadline has not passed by the database's clock, and returns that
/// time. None when the window is closed. A move out of `training` waits for the transaction, so what
/// the transaction records is in before the task is evaluated.
pub async fn hold_open_window<'e>(
    exec: impl Executor<'e, Database = Any>,
    backend: Backend,
    id: &str,
) -> sqlx::Result<Option<Millis>> {
    let now = backend.clock_ms();
    sqlx::query_scalar(&format!(
        "UPDATE tasks SET updated_at = updated_at \
         WHERE id = $1 AND state = 'training' AND deadline_at >= {now} RETURNING {now}"
    ))
    .bind(id)
    .fetch_optional(exec)
    .await
}

/// Records the submission the customer receives (none while the task is evaluated again).
pub async fn set_winner<'e>(
    exec: impl Executor<'e, Database = Any>,
    id: &str,
    submission_id: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE tasks SET winner_submission_id = $1 WHERE id = $2")
        .bind(submission_id)
        .bind(id)
        .execute(exec)
        .await?;
    Ok(())
}
