//! The `submissions` table.

use sqlx::{Any, Executor, FromRow};

use crate::clock::Millis;

#[derive(Clone, Debug, FromRow)]
pub struct SubmissionRow {
    pub id: String,
    pub task_id: String,
    pub miner_id: String,
    pub sha256: String,
    pub size_bytes: i64,
    pub received_at: Millis,
    /// The object holding the artifact.
    pub object_key: String,
}

const COLUMNS: &str = "s.id, s.task_id, s.miner_id, s.sha256, s.size_bytes, s.received_at, \
                       s.object_key";

/// Records the miner's submission, replacing an earlier one of theirs for the task.
pub async fn upsert<'e>(
    exec: impl Executor<'e, Database = Any>,
    row: &SubmissionRow,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO submissions (id, task_id, miner_id, sha256, size_bytes, received_at, object_key) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (task_id, miner_id) DO UPDATE SET sha256 = excluded.sha256, \
         size_bytes = excluded.size_bytes, received_at = excluded.received_at, \
         object_key = excluded.object_key",
    )
    .bind(&row.id)
    .bind(&row.task_id)
    .bind(&row.miner_id)
    .bind(&row.sha256)
    .bind(row.size_bytes)
    .bind(row.received_at)
    .bind(&row.object_key)
    .execute(exec)
    .await?;
    Ok(())
}

/// The object holding the miner's current submission to the task, if there is one.
pub async fn object_key<'e>(
    exec: impl Executor<'e, Database = Any>,
    task_id: &str,
    miner_id: &str,
) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT object_key FROM submissions WHERE task_id = $1 AND miner_id = $2")
        .bind(task_id)
        .bind(miner_id)
        .fetch_optional(exec)
        .await
}

/// The task's submissions, earliest first.
pub async fn for_task<'e>(
    exec: impl Executor<'e, Database = Any>,
    task_id: &str,
) -> sqlx::Result<Vec<SubmissionRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM submissions s WHERE s.task_id = $1 ORDER BY s.received_at, s.id"
    ))
    .bind(task_id)
    .fetch_all(exec)
    .await
}

/// A submission as its task's owner sees it: who sent it, when, and how it was evaluated and scored.
#[derive(Clone, Debug, FromRow)]
pub struct ScoredSubmission {
    pub id: String,
    pub hotkey: String,
    pub sha256: String,
    pub size_bytes: i64,
    pub received_at: Millis,
    pub evaluation: Option<String>,
    pub loss: Option<f64>,
    pub points: Option<i64>,
    pub rank: Option<i64>,
    pub reason: Option<String>,
}

/// The task's submissions with their evaluations and scores, as far as they exist.
pub async fn scored_for_task<'e>(
    exec: impl Executor<'e, Database = Any>,
    task_id: &str,
) -> sqlx::Result<Vec<ScoredSubmission>> {
    sqlx::query_as(
        "SELECT s.id, m.hotkey, s.sha256, s.size_bytes, s.received_at, e.state AS evaluation, e.loss, \
         sc.points, sc.rank, sc.reason \
         FROM submissions s JOIN miners m ON m.id = s.miner_id \
         LEFT JOIN evaluations e ON e.submission_id = s.id \
         LEFT JOIN scores sc ON sc.task_id = s.task_id AND sc.miner_id = s.miner_id \
         WHERE s.task_id = $1 ORDER BY s.received_at, s.id",
    )
    .bind(task_id)
    .fetch_all(exec)
    .await
}
