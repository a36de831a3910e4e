//! The `recipes` table: miners' training recipes and their builds.

use sqlx::{Any, Executor, FromRow};

use crate::clock::Millis;

#[derive(Clone, Debug, FromRow)]
pub struct RecipeRow {
    pub id: String,
    pub miner_id: String,
    pub name: String,
    pub sha256: String,
    pub size_bytes: i64,
    pub state: crate::states::RecipeState,
    pub image_tag: Option<String>,
    pub image_digest: Option<String>,
    pub build_log: String,
    pub created_at: Millis,
    pub updated_at: Millis,
}

const COLUMNS: &str = "id, miner_id, name, sha256, size_bytes, state, image_tag, image_digest, \
                       build_log, created_at, updated_at";

pub async fn insert<'e>(
    exec: impl Executor<'e, Database = Any>,
    row: &RecipeRow,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO recipes (id, miner_id, name, sha256, size_bytes, state, build_log, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
    )
    .bind(&row.id)
    .bind(&row.miner_id)
    .bind(&row.name)
    .bind(&row.sha256)
    .bind(row.size_bytes)
    .bind(row.state)
    .bind(&row.build_log)
    .bind(row.created_at)
    .execute(exec)
    .await?;
    Ok(())
}

pub async fn by_id<'e>(
    exec: impl Executor<'e, Database = Any>,
    id: &str,
) -> sqlx::Result<Option<RecipeRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM recipes WHERE id = $1"))
        .bind(id)
        .fetch_optional(exec)
        .await
}

/// The miner's recipes, newest first.
pub async fn for_miner<'e>(
    exec: impl Executor<'e, Database = Any>,
    miner_id: &str,
) -> sqlx::Result<Vec<RecipeRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM recipes WHERE miner_id = $1 ORDER BY created_at DESC, id DESC"
    ))
    .bind(miner_id)
    .fetch_all(exec)
    .await
}

/// Records a finished build; nothing unless the recipe was waiting for one.
pub async fn built<'e>(
    exec: impl Executor<'e, Database = Any>,
    id: &str,
    tag: &str,
    digest: &str,
    log: &str,
    now: Millis,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE recipes SET state = 'built', image_tag = $1, image_digest = $2, build_log = $3, updated_at = $4 \
         WHERE id = $5 AND state = 'uploaded'",
    )
    .bind(tag)
    .bind(digest)
    .bind(log)
    .bind(now)
    .bind(id)
    .execute(exec)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records a build that failed for good, with why; nothing unless the recipe was waiting for one.
pub async fn failed<'e>(
    exec: impl Executor<'e, Database = Any>,
    id: &str,
    log: &str,
    now: Millis,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE recipes SET state = 'failed', build_log = $1, updated_at = $2 WHERE id = $3 AND state = 'uploaded'",
    )
    .bind(log)
    .bind(now)
    .bind(id)
    .execute(exec)
    .await?;
    Ok(done.rows_affected() == 1)
}
