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
    pub state: String,
    pub loss: Option<f64>,
    pub error: Option<String>,
    pub log: String,
    pub updated_at: Millis,
}

pub async fn for_task<'e>(
    exec: impl Executor<'e, Database = Any>,
    task_id: &str,
) -> sqlx::Result<Vec<EvaluationRow>> {
    sqlx::query_as(
        "SELECT submission_id, task_id, attempts, state, loss, error, log, updated_at \
         FROM evaluations WHERE task_id = $1",
    )
    .bind(task_id)
    .fetch_all(exec)
    .await
}

/// Records an attempt's result, unless the evaluation has ended already.
pub async fn record<'e>(
    exec: impl Executor<'e, Database = Any>,
    row: &EvaluationRow,
) -> sqlx::Result<()> {
    let loss = Nullables::from(8).slot(row.loss.is_some());
    let query = format!(
        "INSERT INTO evaluations (submission_id, task_id, attempts, state, error, log, updated_at, loss) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, {loss}) \
         ON CONFLICT (submission_id) DO UPDATE SET attempts = excluded.attempts, state = excluded.state, \
         loss = excluded.loss, error = excluded.error, log = excluded.log, updated_at = excluded.updated_at \
         WHERE evaluations.state = 'pending'"
    );
    let mut query = sqlx::query(&query)
        .bind(&row.submission_id)
        .bind(&row.task_id)
        .bind(row.attempts)
        .bind(&row.state)
        .bind(&row.error)
        .bind(&row.log)
        .bind(row.updated_at);
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
