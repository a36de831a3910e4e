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
