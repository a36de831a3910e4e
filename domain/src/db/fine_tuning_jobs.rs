//! The `fine_tuning_jobs` table and its events. JSON-valued columns (hyperparameters, metadata) are text.

use sqlx::{Any, Executor, FromRow};

use crate::clock::Millis;

#[derive(Clone, Debug, FromRow)]
pub struct JobRow {
    pub id: String,
    pub owner_id: String,
    pub model_id: String,
    pub training_file: String,
    pub validation_file: Option<String>,
    pub task_type: String,
    pub method: String,
    pub hyperparameters: String,
    pub suffix: Option<String>,
    pub seed: i64,
    pub metadata: Option<String>,
    pub hours_to_complete: i64,
    pub task_id: String,
    pub state: String,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub error_param: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

const COLUMNS: &str = "id, owner_id, model_id, training_file, validation_file, task_type, method, \
                       hyperparameters, suffix, seed, metadata, hours_to_complete, task_id, state, \
                       error_code, error_message, error_param, created_at, updated_at";

#[derive(Clone, Debug, FromRow)]
pub struct JobEventRow {
    pub id: String,
    pub job_id: String,
    pub level: String,
    pub message: String,
    pub at: Millis,
}

pub async fn insert<'e>(exec: impl Executor<'e, Database = Any>, row: &JobRow) -> sqlx::Result<()> {
    sqlx::query(&format!(
        "INSERT INTO fine_tuning_jobs ({COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"
    ))
    .bind(&row.id)
    .bind(&row.owner_id)
    .bind(&row.model_id)
    .bind(&row.training_file)
    .bind(&row.validation_file)
    .bind(&row.task_type)
    .bind(&row.method)
    .bind(&row.hyperparameters)
    .bind(&row.suffix)
    .bind(row.seed)
    .bind(&row.metadata)
    .bind(row.hours_to_complete)
    .bind(&row.task_id)
    .bind(&row.state)
    .bind(&row.error_code)
    .bind(&row.error_message)
    .bind(&row.error_param)
    .bind(row.created_at)
    .bind(row.updated_at)
    .execute(exec)
    .await?;
    Ok(())
}

pub async fn by_id<'e>(
    exec: impl Executor<'e, Database = Any>,
    id: &str,
) -> sqlx::Result<Option<JobRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM fine_tuning_jobs WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(exec)
    .await
}

/// Up to `limit` of the owner's jobs, newest first, after the job `after` (a cursor) when given.
pub async fn page_for_owner<'e>(
    exec: impl Executor<'e, Database = Any>,
    owner_id: &str,
    after: Option<(Millis, &str)>,
    limit: i64,
) -> sqlx::Result<Vec<JobRow>> {
    let (at, id) = after.unwrap_or((Millis::MAX, ""));
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM fine_tuning_jobs WHERE owner_id = $1 \
         AND ($4 = 1 OR created_at < $2 OR (created_at = $2 AND id < $3)) \
         ORDER BY created_at DESC, id DESC LIMIT $5"
    ))
    .bind(owner_id)
    .bind(at)
    .bind(id)
    .bind(i64::from(after.is_none()))
    .bind(limit)
    .fetch_all(exec)
    .await
}

/// Moves job `id` from state `from` to `to`, with an error when it failed; false when it was not in `from`.
pub async fn change_state<'e>(
    exec: impl Executor<'e, Database = Any>,
    id: &str,
    from: &str,
    to: &str,
    error: Option<(&str, &str, Option<&str>)>,
    now: Millis,
) -> sqlx::Result<bool> {
    let (code, message, param) = match error {
        Some((code, message, param)) => (Some(code), Some(message), param),
        None => (None, None, None),
    };
    let done = sqlx::query(
        "UPDATE fine_tuning_jobs SET state = $1, error_code = $2, error_message = $3, \
         error_param = $4, updated_at = $5 WHERE id = $6 AND state = $7",
    )
    .bind(to)
    .bind(code)
    .bind(message)
    .bind(param)
    .bind(now)
    .bind(id)
    .bind(from)
    .execute(exec)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn insert_event<'e>(
    exec: impl Executor<'e, Database = Any>,
    event: &JobEventRow,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO fine_tuning_job_events (id, job_id, level, message, at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&event.id)
    .bind(&event.job_id)
    .bind(&event.level)
    .bind(&event.message)
    .bind(event.at)
    .execute(exec)
    .await?;
    Ok(())
}

/// The job's own events, oldest first.
pub async fn events<'e>(
    exec: impl Executor<'e, Database = Any>,
    job_id: &str,
) -> sqlx::Result<Vec<JobEventRow>> {
    sqlx::query_as(
        "SELECT id, job_id, level, message, at FROM fine_tuning_job_events \
         WHERE job_id = $1 ORDER BY at, id",
    )
    .bind(job_id)
    .fetch_all(exec)
    .await
}
