//! The `offers` table, and the miners eligible for a task's pool.

use sqlx::{Any, Executor, FromRow};

use crate::clock::Millis;

#[derive(Clone, Debug, FromRow)]
pub struct OfferRow {
    pub id: String,
    pub task_id: String,
    pub miner_id: String,
    pub round: i64,
    pub state: crate::states::OfferState,
    pub expires_at: Millis,
    pub created_at: Millis,
    pub decided_at: Option<Millis>,
}

const COLUMNS: &str = "id, task_id, miner_id, round, state, expires_at, created_at, decided_at";

/// A miner eligible for task `$4`: not suspended, declared the task type (`$2`: `%"type"%`, matched in
/// its JSON list) and a model of at least `$1` parameters, and not linked to the account that owns the
/// task (a customer's own hotkeys never compete for, nor earn points on, that customer's task).
const ELIGIBLE: &str = "m.suspended_reason IS NULL AND m.max_parameters >= $1 AND m.task_types LIKE $2 \
     AND (m.owner_id IS NULL OR m.owner_id <> (SELECT t.owner_id FROM tasks t WHERE t.id = $4))";

fn declared(task_type: &str) -> String {
    format!("%\"{task_type}\"%")
}

/// Up to `n` of the eligible miners never scored, drawn uniformly at random by the database, each
/// with how many such miners there are: a fan-out reads a pool's worth of rows, not every miner.
pub async fn sample_new_miners<'e>(
    exec: impl Executor<'e, Database = Any>,
    task_id: &str,
    task_type: &str,
    parameters: i64,
    n: i64,
) -> sqlx::Result<Vec<(String, i64)>> {
    sqlx::query_as(&format!(
        "SELECT m.id, CAST(COUNT(*) OVER () AS BIGINT) FROM miners m WHERE {ELIGIBLE} \
         AND NOT EXISTS (SELECT 1 FROM scores s WHERE s.miner_id = m.id) \
         ORDER BY random() LIMIT $3"
    ))
    .bind(parameters)
    .bind(declared(task_type))
    .bind(n)
    .bind(task_id)
    .fetch_all(exec)
    .await
}

/// The eligible miners whose points scored after `since` add up to more than zero, with that sum.
pub async fn eligible_with_points<'e>(
    exec: impl Executor<'e, Database = Any>,
    task_id: &str,
    task_type: &str,
    parameters: i64,
    since: Millis,
) -> sqlx::Result<Vec<(String, i64)>> {
    // The week's scores first (few, by `scores_by_time`), then their miners by key: joined the
    // other way round, a planner without statistics yet scanned every miner (13 ms a fan-out).
    sqlx::query_as(&format!(
        "SELECT m.id, p.points FROM \
         (SELECT miner_id, CAST(SUM(points) AS BIGINT) AS points FROM scores \
          WHERE scored_at > $3 GROUP BY miner_id) p \
         JOIN miners m ON m.id = p.miner_id WHERE {ELIGIBLE} AND p.points > 0"
    ))
    .bind(parameters)
    .bind(declared(task_type))
    .bind(since)
    .bind(task_id)
    .fetch_all(exec)
    .await
}

/// Inserts an offer; nothing when the miner already has one for this round.
pub async fn insert<'e>(
    exec: impl Executor<'e, Database = Any>,
    row: &OfferRow,
) -> sqlx::Result<()> {
    sqlx::query(&format!(
        "INSERT INTO offers ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (task_id, miner_id, round) DO NOTHING"
    ))
    .bind(&row.id)
    .bind(&row.task_id)
    .bind(&row.miner_id)
    .bind(row.round)
    .bind(row.state)
    .bind(row.expires_at)
    .bind(row.created_at)
    .bind(row.decided_at)
    .execute(exec)
    .await?;
    Ok(())
}

/// How many offers the task's round has (`state` `None`), or has in `state`.
pub async fn count_for_round<'e>(
    exec: impl Executor<'e, Database = Any>,
    task_id: &str,
    round: i64,
    state: Option<&str>,
) -> sqlx::Result<i64> {
    let query = match state {
        None => "SELECT CAST(COUNT(*) AS BIGINT) FROM offers WHERE task_id = $1 AND round = $2",
        Some(_) => {
            "SELECT CAST(COUNT(*) AS BIGINT) FROM offers WHERE task_id = $1 AND round = $2 \
             AND state = $3"
        }
    };
    let mut query = sqlx::query_scalar(query).bind(task_id).bind(round);
    if let Some(state) = state {
        query = query.bind(state);
    }
    query.fetch_one(exec).await
}

/// The miner's open offers: not decided and not expired, oldest first.
pub async fn open_for_miner<'e>(
    exec: impl Executor<'e, Database = Any>,
    miner_id: &str,
    now: Millis,
) -> sqlx::Result<Vec<OfferRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM offers WHERE miner_id = $1 AND state = 'offered' AND expires_at > $2 \
         ORDER BY created_at, id"
    ))
    .bind(miner_id)
    .bind(now)
    .fetch_all(exec)
    .await
}

pub async fn by_id<'e>(
    exec: impl Executor<'e, Database = Any>,
    id: &str,
) -> sqlx::Result<Option<OfferRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM offers WHERE id = $1"))
        .bind(id)
        .fetch_optional(exec)
        .await
}

/// Decides an open offer; false when it was decided already or has expired.
pub async fn decide<'e>(
    exec: impl Executor<'e, Database = Any>,
    id: &str,
    state: crate::states::OfferState,
    now: Millis,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE offers SET state = $1, decided_at = $2 \
         WHERE id = $3 AND state = 'offered' AND expires_at > $2",
    )
    .bind(state)
    .bind(now)
    .bind(id)
    .execute(exec)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Whether the miner accepted the task's offer in `round`.
pub async fn accepted<'e>(
    exec: impl Executor<'e, Database = Any>,
    task_id: &str,
    miner_id: &str,
    round: i64,
) -> sqlx::Result<bool> {
    let count: i64 = sqlx::query_scalar(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM offers \
         WHERE task_id = $1 AND miner_id = $2 AND round = $3 AND state = 'accepted'",
    )
    .bind(task_id)
    .bind(miner_id)
    .bind(round)
    .fetch_one(exec)
    .await?;
    Ok(count > 0)
}

/// The miners who accepted the task's offer in `round`: the pool that trains it.
pub async fn accepted_miners<'e>(
    exec: impl Executor<'e, Database = Any>,
    task_id: &str,
    round: i64,
) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT miner_id FROM offers WHERE task_id = $1 AND round = $2 AND state = 'accepted' \
         ORDER BY miner_id",
    )
    .bind(task_id)
    .bind(round)
    .fetch_all(exec)
    .await
}

/// An offer's id, its miner and when it was made.
#[derive(Clone, Debug, FromRow)]
pub struct NewOffer {
    pub id: String,
    pub miner_id: String,
    pub created_at: Millis,
}

/// The open offers made at or after `since`, for waking their miners.
pub async fn created_since<'e>(
    exec: impl Executor<'e, Database = Any>,
    since: Millis,
) -> sqlx::Result<Vec<NewOffer>> {
    sqlx::query_as(
        "SELECT id, miner_id, created_at FROM offers WHERE created_at >= $1 AND state = 'offered'",
    )
    .bind(since)
    .fetch_all(exec)
    .await
}

/// A task the miner was accepted on whose window is open: (task id, model id, deadline).
#[derive(Clone, Debug, FromRow)]
pub struct ActiveTask {
    pub task_id: String,
    pub model_id: String,
    pub task_type: String,
    pub deadline_at: Millis,
}

/// The tasks in training the miner accepted, soonest deadline first.
pub async fn active_for_miner<'e>(
    exec: impl Executor<'e, Database = Any>,
    miner_id: &str,
) -> sqlx::Result<Vec<ActiveTask>> {
    sqlx::query_as(
        "SELECT t.id AS task_id, t.model_id, t.task_type, t.deadline_at FROM offers o \
         JOIN tasks t ON t.id = o.task_id AND t.round = o.round \
         WHERE o.miner_id = $1 AND o.state = 'accepted' AND t.state = 'training' \
         AND t.deadline_at IS NOT NULL ORDER BY t.deadline_at, t.id",
    )
    .bind(miner_id)
    .fetch_all(exec)
    .await
}
