//! The `jobs` table: background work that any replica may claim.

use sqlx::{Any, Executor, FromRow};

use super::Backend;
use crate::clock::Millis;

#[derive(Clone, Debug, FromRow)]
pub struct JobRow {
    pub id: String,
    pub kind: String,
    pub queue: String,
    pub subject_id: String,
    /// The job's own arguments, as JSON.
    pub payload: String,
    pub attempts: i64,
    pub max_attempts: i64,
    /// This claim's token: heartbeats, finishing and failing count only while it is the job's.
    pub claim_token: String,
}

/// A job to queue.
#[derive(Clone, Debug)]
pub struct NewJob<'a> {
    pub kind: &'a str,
    pub queue: &'a str,
    /// What the job works on, for admins and queue positions.
    pub subject_id: &'a str,
    pub payload: &'a str,
    /// Higher runs first among due jobs of its queue.
    pub priority: i64,
    pub max_attempts: i64,
    pub run_at: Millis,
}

/// Queues `job`; its id.
pub async fn enqueue<'e>(
    exec: impl Executor<'e, Database = Any>,
    job: &NewJob<'_>,
    now: Millis,
) -> sqlx::Result<String> {
    let id = uuid::Uuid::now_v7().to_string();
    sqlx::query(
        "INSERT INTO jobs (id, kind, queue, subject_id, payload, priority, state, attempts, max_attempts, \
                           run_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'queued', 0, $7, $8, $9, $9)",
    )
    .bind(&id)
    .bind(job.kind)
    .bind(job.queue)
    .bind(job.subject_id)
    .bind(job.payload)
    .bind(job.priority)
    .bind(job.max_attempts)
    .bind(job.run_at)
    .bind(now)
    .execute(exec)
    .await?;
    Ok(id)
}

/// Who claims, and from which queues.
#[derive(Clone, Copy, Debug)]
pub struct Claimant<'a> {
    /// The worker's process, as `host:pid`.
    pub name: &'a str,
    pub queues: &'a [&'a str],
}

/// Claims the due job of one of the claimant's queues with the highest priority and then the earliest
/// due time, or one whose worker's lease ran out, for `lease_until`, under a new claim token. On
/// PostgreSQL, replicas claiming at once skip each other's locked rows instead of waiting.
pub async fn claim<'e>(
    exec: impl Executor<'e, Database = Any>,
    backend: Backend,
    claimant: Claimant<'_>,
    now: Millis,
    lease_until: Millis,
) -> sqlx::Result<Option<JobRow>> {
    let queues = claimant.queues;
    let lock = match backend {
        Backend::Postgres => "FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let names = (0..queues.len())
        .map(|i| format!("${}", i + 5))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_until = $1, updated_at = $2, \
                         claim_token = $3, claimed_by = $4 \
         WHERE id = (SELECT id FROM jobs \
                     WHERE queue IN ({names}) \
                       AND ((state = 'queued' AND run_at <= $2) OR (state = 'running' AND lease_until < $2)) \
                     ORDER BY priority DESC, run_at LIMIT 1 {lock}) \
         RETURNING id, kind, queue, subject_id, payload, attempts, max_attempts, claim_token"
    );
    let mut query = sqlx::query_as(&sql)
        .bind(lease_until)
        .bind(now)
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(claimant.name);
    for queue in queues {
        query = query.bind(*queue);
    }
    query.fetch_optional(exec).await
}

/// Gives `job` back, while it is still this claim, to be claimed again at once with this attempt not
/// counted: its worker stopped (the server is shutting down), not the job.
pub async fn release<'e>(
    exec: impl Executor<'e, Database = Any>,
    job: &JobRow,
    now: Millis,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE jobs SET state = 'queued', attempts = attempts - 1, run_at = $1, lease_until = NULL, \
                         claim_token = NULL, updated_at = $1 \
         WHERE id = $2 AND state = 'running' AND claim_token = $3",
    )
    .bind(now)
    .bind(&job.id)
    .bind(&job.claim_token)
    .execute(exec)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Extends the lease of a job while it is still `job`'s claim; false when it is not.
pub async fn extend_lease<'e>(
    exec: impl Executor<'e, Database = Any>,
    job: &JobRow,
    lease_until: Millis,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE jobs SET lease_until = $1 WHERE id = $2 AND state = 'running' AND claim_token = $3",
    )
    .bind(lease_until)
    .bind(&job.id)
    .bind(&job.claim_token)
    .execute(exec)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Marks `job` done while it is still this claim; false (and nothing changed) when it is not.
pub async fn finish<'e>(
    exec: impl Executor<'e, Database = Any>,
    job: &JobRow,
    now: Millis,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE jobs SET state = 'done', lease_until = NULL, updated_at = $1 \
         WHERE id = $2 AND state = 'running' AND claim_token = $3",
    )
    .bind(now)
    .bind(&job.id)
    .bind(&job.claim_token)
    .execute(exec)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records a failed attempt of `job`, while it is still this claim: queued again at `retry_at`, or
/// failed for good when `retry_at` is `None`. False (and nothing changed) when it is not the claim.
pub async fn fail<'e>(
    exec: impl Executor<'e, Database = Any>,
    job: &JobRow,
    error: &str,
    retry_at: Option<Millis>,
    now: Millis,
) -> sqlx::Result<bool> {
    let (state, run_at) = match retry_at {
        Some(at) => ("queued", at),
        None => ("failed", now),
    };
    let done = sqlx::query(
        "UPDATE jobs SET state = $1, run_at = $2, last_error = $3, lease_until = NULL, updated_at = $4 \
         WHERE id = $5 AND state = 'running' AND claim_token = $6",
    )
    .bind(state)
    .bind(run_at)
    .bind(error)
    .bind(now)
    .bind(&job.id)
    .bind(&job.claim_token)
    .execute(exec)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Job counts by state, for health pages and metrics.
pub async fn counts<'e>(
    exec: impl Executor<'e, Database = Any>,
) -> sqlx::Result<Vec<(String, i64)>> {
    sqlx::query_as("SELECT state, COUNT(*) FROM jobs GROUP BY state ORDER BY state")
        .fetch_all(exec)
        .await
}

/// How many jobs of each kind are in each state.
#[derive(Clone, Debug, FromRow)]
pub struct JobCount {
    pub queue: String,
    pub kind: String,
    pub state: String,
    pub count: i64,
}

pub async fn counts_by_kind<'e>(
    exec: impl Executor<'e, Database = Any>,
) -> sqlx::Result<Vec<JobCount>> {
    sqlx::query_as(
        "SELECT queue, kind, state, CAST(COUNT(*) AS BIGINT) AS count FROM jobs \
         GROUP BY queue, kind, state ORDER BY queue, kind, state",
    )
    .fetch_all(exec)
    .await
}

/// A job that failed, for good (`failed`) or for now (`queued` again, to be retried).
#[derive(Clone, Debug, FromRow)]
pub struct FailedJob {
    pub id: String,
    pub kind: String,
    pub subject_id: String,
    pub state: String,
    pub attempts: i64,
    pub max_attempts: i64,
    pub last_error: String,
    pub updated_at: Millis,
}

/// The latest failures, newest first.
pub async fn recent_failures<'e>(
    exec: impl Executor<'e, Database = Any>,
    limit: i64,
) -> sqlx::Result<Vec<FailedJob>> {
    sqlx::query_as(
        "SELECT id, kind, subject_id, state, attempts, max_attempts, last_error, updated_at FROM jobs \
         WHERE last_error IS NOT NULL AND state IN ('failed', 'queued') \
         ORDER BY updated_at DESC, id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(exec)
    .await
}

/// Queues a job that failed for good again, with its attempts reset; false unless it had failed.
pub async fn requeue_failed<'e>(
    exec: impl Executor<'e, Database = Any>,
    id: &str,
    now: Millis,
) -> sqlx::Result<Option<FailedJob>> {
    sqlx::query_as(
        "UPDATE jobs SET state = 'queued', attempts = 0, run_at = $1, updated_at = $1 \
         WHERE id = $2 AND state = 'failed' \
         RETURNING id, kind, subject_id, state, attempts, max_attempts, last_error, updated_at",
    )
    .bind(now)
    .bind(id)
    .fetch_optional(exec)
    .await
}

/// Where the due, queued job of `kind` for `subject_id` stands in its queue: 1
/// when it is next, plus one for every job being worked on or due before it. None when it has no such
/// job (it is running, done, or not due yet).
pub async fn queue_position<'e>(
    exec: impl Executor<'e, Database = Any>,
    kind: &str,
    subject_id: &str,
    now: Millis,
) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar(
        "SELECT CAST(1 + (SELECT COUNT(*) FROM jobs ahead \
                          WHERE ahead.id <> mine.id AND ahead.queue = mine.queue AND (ahead.state = 'running' \
                             OR (ahead.state = 'queued' AND (ahead.run_at < mine.run_at \
                                 OR (ahead.run_at = mine.run_at AND ahead.id < mine.id))))) AS BIGINT) \
         FROM jobs mine \
         WHERE mine.kind = $1 AND mine.subject_id = $2 AND mine.state = 'queued' AND mine.run_at <= $3 \
         ORDER BY mine.run_at LIMIT 1",
    )
    .bind(kind)
    .bind(subject_id)
    .bind(now)
    .fetch_optional(exec)
    .await
}
