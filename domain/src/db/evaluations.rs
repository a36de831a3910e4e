//! The `evaluations` table.

use sqlx::{Any, Executor, FromRow};

use super::Nullables;
use crate::clock::Millis;

#[derive(Clone, Debug, FromRow)]
pub struct EvaluationRow {
    pub submission_id: String,
    pub task_id: String,
    pub attempts: i64,
    /// `pending`, `done` or `failed`.
    pub state: crate::states::EvaluationState,
    pub loss: Option<f64>,
    pub error: Option<String>,
    pub log: String,
    pub updated_at: Millis,
    /// The artifact this evaluation scored: its object, the SHA-256 of its bytes as read, and the
    /// digest of its unpacked files (by which duplicates are found). None until it was read.
    pub object_key: Option<String>,
    pub artifact_sha256: Option<String>,
    pub content_sha256: Option<String>,
    /// Each held-out row's loss, as JSON (`[{"row", "loss", "tokens"}]`), when the evaluator gave them.
    /// Tied to rows of the secret split: read by no miner or customer route.
    pub examples: Option<String>,
}

const COLUMNS: &str = "submission_id, task_id, attempts, state, loss, error, log, updated_at, \
                       object_key, artifact_sha256, content_sha256, examples";

pub async fn for_task<'e>(
    exec: impl Executor<'e, Database = Any>,
    task_id: &str,
) -> sqlx::Result<Vec<EvaluationRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM evaluations WHERE task_id = $1"
    ))
    .bind(task_id)
    .fetch_all(exec)
    .await
}

/// The evaluation of submission `id`.
pub async fn for_submission<'e>(
    exec: impl Executor<'e, Database = Any>,
    submission_id: &str,
) -> sqlx::Result<Option<EvaluationRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM evaluations WHERE submission_id = $1"
    ))
    .bind(submission_id)
    .fetch_optional(exec)
    .await
}

/// Records an attempt's result, unless the evaluation has ended already.
pub async fn record<'e>(
    exec: impl Executor<'e, Database = Any>,
    row: &EvaluationRow,
) -> sqlx::Result<()> {
    let loss = Nullables::from(12).slot(row.loss.is_some());
    let query = format!(
        "INSERT INTO evaluations (submission_id, task_id, attempts, state, error, log, updated_at, \
         object_key, artifact_sha256, content_sha256, examples, loss) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, {loss}) \
         ON CONFLICT (submission_id) DO UPDATE SET attempts = excluded.attempts, state = excluded.state, \
         loss = excluded.loss, error = excluded.error, log = excluded.log, updated_at = excluded.updated_at, \
         object_key = excluded.object_key, artifact_sha256 = excluded.artifact_sha256, \
         content_sha256 = excluded.content_sha256, examples = excluded.examples \
         WHERE evaluations.state = 'pending'"
    );
    let mut query = sqlx::query(&query)
        .bind(&row.submission_id)
        .bind(&row.task_id)
        .bind(row.attempts)
        .bind(row.state)
        .bind(&row.error)
        .bind(&row.log)
        .bind(row.updated_at)
        .bind(&row.object_key)
        .bind(&row.artifact_sha256)
        .bind(&row.content_sha256)
        .bind(&row.examples);
    if let Some(loss) = row.loss {
        query = query.bind(loss);
    }
    query.execute(exec).await?;
    Ok(())
}

/// Forgets every evaluation of task `id`'s submissions, so that they are evaluated afresh.
pub async fn delete_for_task<'e>(
    exec: impl Executor<'e, Database = Any>,
    task_id: &str,
) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM evaluations WHERE task_id = $1")
        .bind(task_id)
        .execute(exec)
        .await?;
    Ok(())
}
