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
}

/// Records the miner's submission, replacing an earlier one of theirs for the task.
pub async fn upsert<'e>(
    exec: impl Executor<'e, Database = Any>,
    row: &SubmissionRow,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO submissions (id, task_id, miner_id, sha256, size_bytes, received_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (task_id, miner_id) DO UPDATE SET sha256 = excluded.sha256, \
         size_bytes = excluded.size_bytes, received_at = excluded.received_at",
    )
    .bind(&row.id)
    .bind(&row.task_id)
    .bind(&row.miner_id)
    .bind(&row.sha256)
    .bind(row.size_bytes)
    .bind(row.received_at)
    .execute(exec)
    .await?;
    Ok(())
}

/// The task's submissions, earliest first.
pub async fn for_task<'e>(
    exec: impl Executor<'e, Database = Any>,
    task_id: &str,
) -> sqlx::Result<Vec<SubmissionRow>> {
    sqlx::query_as(
        "SELECT id, task_id, miner_id, sha256, size_bytes, received_at FROM submissions \
         WHERE task_id = $1 ORDER BY received_at, id",
    )
    .bind(task_id)
    .fetch_all(exec)
    .await
}

/// A submission as its task's owner sees it: who sent it, when, and how it was evaluated and scored.
#[derive(Clone, Debug, FromRow)]
pub struct ScoredSubmission {
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
        "SELECT m.hotkey, s.sha256, s.size_bytes, s.received_at, e.state AS evaluation, e.loss, \
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

/// The winner's submission: the one whose score is the win.
pub async fn winner<'e>(
    exec: impl Executor<'e, Database = Any>,
    task_id: &str,
) -> sqlx::Result<Option<SubmissionRow>> {
    sqlx::query_as(
        "SELECT s.id, s.task_id, s.miner_id, s.sha256, s.size_bytes, s.received_at \
         FROM submissions s JOIN scores sc ON sc.task_id = s.task_id AND sc.miner_id = s.miner_id \
         WHERE s.task_id = $1 AND sc.rank = 1",
    )
    .bind(task_id)
    .fetch_optional(exec)
    .await
}
