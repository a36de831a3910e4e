//! What an operator watches, counted from the tables every replica shares.

use sqlx::{Any, Executor};

use crate::clock::Millis;

/// The tables counted by state.
#[derive(Clone, Copy, Debug)]
pub enum Counted {
    Tasks,
    Datasets,
    Deliveries,
}

/// Rows of `table` by state, as `(state, count)`.
pub async fn by_state<'e>(
    exec: impl Executor<'e, Database = Any>,
    table: Counted,
) -> sqlx::Result<Vec<(String, i64)>> {
    let table = match table {
        Counted::Tasks => "tasks",
        Counted::Datasets => "datasets",
        Counted::Deliveries => "webhook_deliveries",
    };
    let sql = format!(
        "SELECT state, CAST(COUNT(*) AS BIGINT) FROM {table} GROUP BY state ORDER BY state"
    );
    sqlx::query_as(&sql).fetch_all(exec).await
}

/// Jobs by kind and state, as `(kind, state, count)`.
pub async fn jobs<'e>(
    exec: impl Executor<'e, Database = Any>,
) -> sqlx::Result<Vec<(String, String, i64)>> {
    sqlx::query_as(
        "SELECT kind, state, CAST(COUNT(*) AS BIGINT) FROM jobs GROUP BY kind, state \
         ORDER BY kind, state",
    )
    .fetch_all(exec)
    .await
}

/// Offers by what became of them at `now`: `offered` (still open), `accepted`, `declined`, or
/// `expired` (never answered).
pub async fn offers<'e>(
    exec: impl Executor<'e, Database = Any>,
    now: Millis,
) -> sqlx::Result<Vec<(String, i64)>> {
    sqlx::query_as(
        "SELECT CASE WHEN state = 'offered' AND expires_at <= $1 THEN 'expired' ELSE state END \
         AS outcome, CAST(COUNT(*) AS BIGINT) FROM offers GROUP BY outcome ORDER BY outcome",
    )
    .bind(now)
    .fetch_all(exec)
    .await
}

/// The bytes read by validations so far, over every dataset.
pub async fn validated_bytes<'e>(exec: impl Executor<'e, Database = Any>) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT CAST(COALESCE(SUM(validated_bytes), 0) AS BIGINT) FROM datasets")
        .fetch_one(exec)
        .await
}

/// Recipe runs recorded, and their seconds in all.
pub async fn recipe_runs<'e>(exec: impl Executor<'e, Database = Any>) -> sqlx::Result<(i64, f64)> {
    sqlx::query_as(
        "SELECT CAST(COUNT(*) AS BIGINT), CAST(COALESCE(SUM(seconds), 0) AS DOUBLE PRECISION) \
         FROM tournament_runs",
    )
    .fetch_one(exec)
    .await
}
