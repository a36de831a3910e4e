//! The `models` catalogue and the `task_type_bounds` table.

use sqlx::{Any, Executor, FromRow};

#[derive(Clone, Debug, FromRow)]
pub struct ModelRow {
    pub id: String,
    pub family: String,
    pub parameters: i64,
    pub task_types: String,
    pub enabled: i64,
}

#[derive(Clone, Debug, FromRow)]
pub struct BoundsRow {
    pub task_type: String,
    pub min_hours: i64,
    pub max_hours: i64,
}

/// The enabled models, largest family first then by size.
pub async fn enabled<'e>(exec: impl Executor<'e, Database = Any>) -> sqlx::Result<Vec<ModelRow>> {
    sqlx::query_as(
        "SELECT id, family, parameters, task_types, enabled FROM models WHERE enabled = 1 \
         ORDER BY family, parameters, id",
    )
    .fetch_all(exec)
    .await
}

pub async fn bounds<'e>(exec: impl Executor<'e, Database = Any>) -> sqlx::Result<Vec<BoundsRow>> {
    sqlx::query_as(
        "SELECT task_type, min_hours, max_hours FROM task_type_bounds ORDER BY task_type",
    )
    .fetch_all(exec)
    .await
}

/// Every model, enabled or not, in the order `enabled` gives.
pub async fn all<'e>(exec: impl Executor<'e, Database = Any>) -> sqlx::Result<Vec<ModelRow>> {
    sqlx::query_as(
        "SELECT id, family, parameters, task_types, enabled FROM models \
         ORDER BY family, parameters, id",
    )
    .fetch_all(exec)
    .await
}

/// Adds a model; false when one with this id exists.
pub async fn insert<'e>(
    exec: impl Executor<'e, Database = Any>,
    row: &ModelRow,
    now: i64,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO models (id, family, parameters, task_types, enabled, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
    )
    .bind(&row.id)
    .bind(&row.family)
    .bind(row.parameters)
    .bind(&row.task_types)
    .bind(row.enabled)
    .bind(now)
    .execute(exec)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Offers the model for new tasks, or stops offering it; false when there is no such model.
pub async fn set_enabled<'e>(
    exec: impl Executor<'e, Database = Any>,
    id: &str,
    enabled: bool,
) -> sqlx::Result<bool> {
    let done = sqlx::query("UPDATE models SET enabled = $1 WHERE id = $2")
        .bind(i64::from(enabled))
        .bind(id)
        .execute(exec)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Sets a task type's bounds; false when there is no such task type.
pub async fn set_bounds<'e>(
    exec: impl Executor<'e, Database = Any>,
    row: &BoundsRow,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE task_type_bounds SET min_hours = $1, max_hours = $2 WHERE task_type = $3",
    )
    .bind(row.min_hours)
    .bind(row.max_hours)
    .bind(&row.task_type)
    .execute(exec)
    .await?;
    Ok(done.rows_affected() == 1)
}
