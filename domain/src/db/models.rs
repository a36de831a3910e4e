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
