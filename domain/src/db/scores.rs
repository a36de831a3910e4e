//! The `scores` table.

use sqlx::{Any, Executor, FromRow};

use super::Nullables;
use crate::clock::Millis;

#[derive(Clone, Debug, FromRow)]
pub struct ScoreRow {
    pub id: String,
    pub task_id: String,
    pub miner_id: String,
    pub points: i64,
    pub rank: Option<i64>,
    pub reason: String,
    pub scored_at: Millis,
}

/// Records a score; nothing when the task already has the miner's score.
pub async fn insert<'e>(
    exec: impl Executor<'e, Database = Any>,
    row: &ScoreRow,
) -> sqlx::Result<()> {
    let rank = Nullables::from(7).slot(row.rank.is_some());
    let query = format!(
        "INSERT INTO scores (id, task_id, miner_id, points, reason, scored_at, rank) \
         VALUES ($1, $2, $3, $4, $5, $6, {rank}) ON CONFLICT (task_id, miner_id) DO NOTHING"
    );
    let mut query = sqlx::query(&query)
        .bind(&row.id)
        .bind(&row.task_id)
        .bind(&row.miner_id)
        .bind(row.points)
        .bind(&row.reason)
        .bind(row.scored_at);
    if let Some(rank) = row.rank {
        query = query.bind(rank);
    }
    query.execute(exec).await?;
    Ok(())
}

/// Withdraws task `id`'s scores, before it is scored again.
pub async fn delete_for_task<'e>(
    exec: impl Executor<'e, Database = Any>,
    task_id: &str,
) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM scores WHERE task_id = $1")
        .bind(task_id)
        .execute(exec)
        .await?;
    Ok(())
}

/// A score with its miner's hotkey and its task's type.
#[derive(Clone, Debug, FromRow)]
pub struct PublicScore {
    pub task_id: String,
    pub task_type: String,
    pub hotkey: String,
    pub points: i64,
    pub rank: Option<i64>,
    pub reason: String,
    pub scored_at: Millis,
}

/// The scores made after `since` and at or before `until`, oldest first.
pub async fn between<'e>(
    exec: impl Executor<'e, Database = Any>,
    since: Millis,
    until: Millis,
) -> sqlx::Result<Vec<PublicScore>> {
    sqlx::query_as(
        "SELECT s.task_id, t.task_type, m.hotkey, s.points, s.rank, s.reason, s.scored_at \
         FROM scores s JOIN miners m ON m.id = s.miner_id JOIN tasks t ON t.id = s.task_id \
         WHERE s.scored_at > $1 AND s.scored_at <= $2 ORDER BY s.scored_at, s.task_id, m.hotkey",
    )
    .bind(since)
    .bind(until)
    .fetch_all(exec)
    .await
}

/// A miner's scores, newest first, with their tasks' types.
pub async fn for_miner<'e>(
    exec: impl Executor<'e, Database = Any>,
    miner_id: &str,
    limit: i64,
) -> sqlx::Result<Vec<PublicScore>> {
    sqlx::query_as(
        "SELECT s.task_id, t.task_type, m.hotkey, s.points, s.rank, s.reason, s.scored_at \
         FROM scores s JOIN miners m ON m.id = s.miner_id JOIN tasks t ON t.id = s.task_id \
         WHERE s.miner_id = $1 ORDER BY s.scored_at DESC, s.task_id LIMIT $2",
    )
    .bind(miner_id)
    .bind(limit)
    .fetch_all(exec)
    .await
}

/// A miner's totals over a window.
#[derive(Clone, Debug, FromRow)]
pub struct MinerTotals {
    pub hotkey: String,
    pub points: i64,
    pub tasks: i64,
    /// Scores of exactly `win` points.
    pub wins: i64,
}

/// Each miner's points, scores and wins (scores of `win` points) after `since` and at or before
/// `until`, for tasks of `task_type` or of every type; in no particular order.
pub async fn totals_between<'e>(
    exec: impl Executor<'e, Database = Any>,
    since: Millis,
    until: Millis,
    task_type: Option<&str>,
    win: i64,
) -> sqlx::Result<Vec<MinerTotals>> {
    let of_type = if task_type.is_some() {
        "JOIN tasks t ON t.id = s.task_id AND t.task_type = $4"
    } else {
        ""
    };
    let query = format!(
        "SELECT m.hotkey, CAST(SUM(s.points) AS BIGINT) AS points, CAST(COUNT(*) AS BIGINT) AS tasks, \
         CAST(SUM(CASE WHEN s.points = $3 THEN 1 ELSE 0 END) AS BIGINT) AS wins \
         FROM scores s JOIN miners m ON m.id = s.miner_id {of_type} \
         WHERE s.scored_at > $1 AND s.scored_at <= $2 GROUP BY m.hotkey"
    );
    let mut query = sqlx::query_as(&query).bind(since).bind(until).bind(win);
    if let Some(task_type) = task_type {
        query = query.bind(task_type);
    }
    query.fetch_all(exec).await
}
