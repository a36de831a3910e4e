//! The `datasets` table. JSON-valued columns (format, columns, preview, mapping, report) are text.

use sqlx::{Any, Executor, FromRow};

use crate::clock::Millis;

#[derive(Clone, Debug, FromRow)]
pub struct DatasetRow {
    pub id: String,
    pub owner_id: String,
    pub name: String,
    pub state: String,
    pub format: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub columns: String,
    pub preview: String,
    pub task_type: Option<String>,
    pub mapping: Option<String>,
    pub seed: Option<i64>,
    pub report: Option<String>,
    pub error: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub validated_bytes: i64,
    /// The dataset whose rows are the test split, when the owner gave their own.
    pub test_dataset_id: Option<String>,
    /// Where the latest validation stores the splits (`datasets::dataset::Splits`).
    pub splits_prefix: Option<String>,
}

const COLUMNS: &str = "id, owner_id, name, state, format, size_bytes, sha256, columns, preview, task_type, \
                       mapping, seed, report, error, created_at, updated_at, validated_bytes, test_dataset_id, \
                       splits_prefix";

pub async fn insert<'e>(
    exec: impl Executor<'e, Database = Any>,
    row: &DatasetRow,
) -> sqlx::Result<()> {
    sqlx::query(&format!(
        "INSERT INTO datasets ({COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"
    ))
    .bind(&row.id)
    .bind(&row.owner_id)
    .bind(&row.name)
    .bind(&row.state)
    .bind(&row.format)
    .bind(row.size_bytes)
    .bind(&row.sha256)
    .bind(&row.columns)
    .bind(&row.preview)
    .bind(&row.task_type)
    .bind(&row.mapping)
    .bind(row.seed)
    .bind(&row.report)
    .bind(&row.error)
    .bind(row.created_at)
    .bind(row.updated_at)
    .bind(row.validated_bytes)
    .bind(&row.test_dataset_id)
    .bind(&row.splits_prefix)
    .execute(exec)
    .await?;
    Ok(())
}

pub async fn by_id<'e>(
    exec: impl Executor<'e, Database = Any>,
    id: &str,
) -> sqlx::Result<Option<DatasetRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM datasets WHERE id = $1 AND deleted_at IS NULL"
    ))
    .bind(id)
    .fetch_optional(exec)
    .await
}

pub async fn for_owner<'e>(
    exec: impl Executor<'e, Database = Any>,
    owner_id: &str,
) -> sqlx::Result<Vec<DatasetRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM datasets WHERE owner_id = $1 AND deleted_at IS NULL \
         ORDER BY created_at DESC, id DESC"
    ))
    .bind(owner_id)
    .fetch_all(exec)
    .await
}

/// Bytes stored for the owner's datasets, for the quota.
pub async fn bytes_for_owner<'e>(
    exec: impl Executor<'e, Database = Any>,
    owner_id: &str,
) -> sqlx::Result<i64> {
    let total: Option<i64> = sqlx::query_scalar(
        "SELECT CAST(SUM(size_bytes) AS BIGINT) FROM datasets WHERE owner_id = $1 AND deleted_at IS NULL",
    )
    .bind(owner_id)
    .fetch_one(exec)
    .await?;
    Ok(total.unwrap_or(0))
}

/// Task states after which a task needs nothing of its dataset's current validation.
const TASK_ENDED: &str =
    "('prep_task_failure', 'failure_finding_nodes', 'success', 'failure', 'cancelled')";

/// The condition that no task or tournament that has not ended uses the splits of the dataset whose
/// id is the statement's parameter `param` (`$7`).
fn unused_by_tasks(param: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM tasks t WHERE t.dataset_id = {param} AND t.state NOT IN {TASK_ENDED}) \
         AND NOT EXISTS (SELECT 1 FROM tournaments u WHERE u.dataset_id = {param} \
                         AND u.state IN ('pending', 'active'))"
    )
}

/// Starts validating dataset `id` into the splits under `splits_prefix`; false (and nothing written)
/// when it is being validated already, is another dataset's held-out test file, or a task or a
/// tournament that has not ended uses it (`blocking_use` says which).
#[allow(clippy::too_many_arguments)]
pub async fn start_validation<'e>(
    exec: impl Executor<'e, Database = Any>,
    id: &str,
    task_type: &str,
    mapping: &str,
    seed: i64,
    test_dataset_id: Option<&str>,
    splits_prefix: &str,
    now: Millis,
) -> sqlx::Result<bool> {
    let done = sqlx::query(&format!(
        "UPDATE datasets SET state = 'validating', task_type = $1, mapping = $2, seed = $3, \
         test_dataset_id = $4, report = NULL, error = NULL, validated_bytes = 0, updated_at = $5, \
         splits_prefix = $6 \
         WHERE id = $7 AND state NOT IN ('validating', 'held_out') AND {}",
        unused_by_tasks("$7")
    ))
    .bind(task_type)
    .bind(mapping)
    .bind(seed)
    .bind(test_dataset_id)
    .bind(now)
    .bind(splits_prefix)
    .bind(id)
    .execute(exec)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// What holds dataset `id`'s splits in use: a task that has not ended (`("task", id, state)`), else a
/// tournament that has not (`("tournament", id, state)`).
pub async fn blocking_use<'e>(
    exec: impl Executor<'e, Database = Any> + Copy,
    id: &str,
) -> sqlx::Result<Option<(String, String, String)>> {
    let task: Option<(String, String)> = sqlx::query_as(&format!(
        "SELECT id, state FROM tasks WHERE dataset_id = $1 AND state NOT IN {TASK_ENDED} \
         ORDER BY created_at, id LIMIT 1"
    ))
    .bind(id)
    .fetch_optional(exec)
    .await?;
    if let Some((task, state)) = task {
        return Ok(Some(("task".into(), task, state)));
    }
    let tournament: Option<(String, String)> = sqlx::query_as(
        "SELECT id, state FROM tournaments WHERE dataset_id = $1 AND state IN ('pending', 'active') \
         ORDER BY created_at, id LIMIT 1",
    )
    .bind(id)
    .fetch_optional(exec)
    .await?;
    Ok(tournament.map(|(t, state)| ("tournament".into(), t, state)))
}

/// Makes the owner's uploaded dataset `id` a held-out test file (or confirms it is one); false when it
/// is not theirs or is a dataset of its own (validating, ready or refused).
pub async fn hold_out<'e>(
    exec: impl Executor<'e, Database = Any>,
    id: &str,
    owner_id: &str,
    now: Millis,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE datasets SET state = 'held_out', updated_at = $1 \
         WHERE id = $2 AND owner_id = $3 AND state IN ('uploaded', 'held_out')",
    )
    .bind(now)
    .bind(id)
    .bind(owner_id)
    .execute(exec)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records a validation's outcome: `ready` or `refused`, with the report and, when refused, why. A
/// dataset made ready was read to its end: its progress is its whole size (progress is otherwise
/// written once a second, which a short validation ends before).
pub async fn finish_validation<'e>(
    exec: impl Executor<'e, Database = Any>,
    id: &str,
    state: &str,
    report: Option<&str>,
    error: Option<&str>,
    now: Millis,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE datasets SET state = $1, report = $2, error = $3, updated_at = $4, \
         validated_bytes = CASE WHEN $1 = 'ready' THEN size_bytes ELSE validated_bytes END \
         WHERE id = $5",
    )
    .bind(state)
    .bind(report)
    .bind(error)
    .bind(now)
    .bind(id)
    .execute(exec)
    .await?;
    Ok(())
}

/// Marks the owner's dataset `id` deleted; false when it is not theirs, is deleted already, is being
/// validated (or is the test file of a dataset being validated), or a task, tournament or fine-tuning
/// job that has not ended uses it.
pub async fn delete<'e>(
    exec: impl Executor<'e, Database = Any>,
    id: &str,
    owner_id: &str,
    now: Millis,
) -> sqlx::Result<bool> {
    let done = sqlx::query(&format!(
        "UPDATE datasets SET deleted_at = $1, updated_at = $1 \
         WHERE id = $2 AND owner_id = $3 AND deleted_at IS NULL AND state <> 'validating' \
         AND NOT EXISTS (SELECT 1 FROM datasets d WHERE d.test_dataset_id = $2 AND d.state = 'validating') \
         AND NOT EXISTS (SELECT 1 FROM fine_tuning_jobs j WHERE j.state = 'validating_files' \
                         AND (j.training_file = $2 OR j.validation_file = $2)) \
         AND {}",
        unused_by_tasks("$2")
    ))
    .bind(now)
    .bind(id)
    .bind(owner_id)
    .execute(exec)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records how many bytes of the file validation has read so far.
pub async fn record_progress<'e>(
    exec: impl Executor<'e, Database = Any>,
    id: &str,
    validated_bytes: i64,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE datasets SET validated_bytes = $1 WHERE id = $2 AND state = 'validating'")
        .bind(validated_bytes)
        .bind(id)
        .execute(exec)
        .await?;
    Ok(())
}
