//! Miners' training recipes: a tar build context holding a `Dockerfile`, uploaded by its miner, kept
//! in the object store as uploaded, and built into an image on the trainer host by a background job
//! (the Dockerfile vetted first by [`super::dockerfile`]; no network, memory, CPU and time limits).
//! The image gets a name nobody can guess and its digest is recorded: runs use the digest. Only a
//! built recipe can enter.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::Platform;
use crate::clock::{Millis, now_ms};
use crate::db::{self, recipes::RecipeRow};
use crate::error::{Error, Result};
use crate::miners::Miner;
use crate::queue::{self, Job, Queue};
use crate::sandbox::dockerfile;
use crate::states::RecipeState;
use crate::storage::{self, ObjectKey};

/// A recipe as its miner and the public see it (never its files: those are published only once it wins).
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Recipe {
    pub id: String,
    pub miner_id: String,
    pub name: String,
    pub sha256: String,
    pub size_bytes: i64,
    /// `uploaded` (waiting for its build), `built` or `failed`.
    pub state: RecipeState,
    pub image_digest: Option<String>,
    /// The build's last lines, or why it failed.
    pub build_log: String,
    pub created_at: Millis,
}

impl From<RecipeRow> for Recipe {
    fn from(row: RecipeRow) -> Recipe {
        Recipe {
            id: row.id,
            miner_id: row.miner_id,
            name: row.name,
            sha256: row.sha256,
            size_bytes: row.size_bytes,
            state: row.state,
            image_digest: row.image_digest,
            build_log: row.build_log,
            created_at: row.created_at,
        }
    }
}

pub fn context_key(id: &str) -> ObjectKey {
    ObjectKey::new(format!("recipes/{id}/context.tar")).expect("recipe ids are UUIDs")
}

/// The recipe's file list (JSON), made once at upload, so that showing a published recipe never reads
/// its whole build context.
fn files_key(id: &str) -> ObjectKey {
    ObjectKey::new(format!("recipes/{id}/files.json")).expect("recipe ids are UUIDs")
}

/// A name for a recipe's image that nobody can guess (a recipe's id is public, in brackets).
fn image_tag() -> String {
    use rand::RngCore;
    let mut secret = [0u8; 16];
    rand::rng().fill_bytes(&mut secret);
    format!("crucible-recipe-{}:built", hex::encode(secret))
}

/// How much of a build's log its miner sees: the end of it.
const KEPT_LOG_BYTES: usize = 16 * 1024;

/// Takes a miner's recipe: checks that `context` is a tar holding a `Dockerfile` at its top, stores
/// it and queues its build.
pub async fn upload(
    platform: &Platform,
    miner: &Miner,
    name: &str,
    context: Vec<u8>,
) -> Result<Recipe> {
    let trainers = platform.trainers.as_ref().ok_or_else(|| Error::Conflict {
        field: None,
        message:
            "this platform runs no tournaments: it has no trainer host (crucible serve --trainers)"
                .into(),
    })?;
    let name = name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(Error::invalid(
            "name",
            "name the recipe (1 to 100 characters)",
        ));
    }
    if context.len() as u64 > trainers.max_recipe_bytes {
        return Err(Error::TooLarge(format!(
            "a recipe's build context may be at most {} bytes; this one is {}",
            trainers.max_recipe_bytes,
            context.len()
        )));
    }
    check_context(&context, &trainers.allowed_bases)
        .map_err(|why| Error::invalid("context", why))?;
    let row = RecipeRow {
        id: uuid::Uuid::now_v7().to_string(),
        miner_id: miner.id.clone(),
        name: name.to_string(),
        sha256: hex::encode(Sha256::digest(&context)),
        size_bytes: context.len() as i64,
        state: RecipeState::Uploaded,
        image_tag: None,
        image_digest: None,
        build_log: "waiting for its build".into(),
        created_at: now_ms(),
        updated_at: now_ms(),
    };
    let files = serde_json::to_vec(&list_files(&context)).expect("a file list serialises");
    platform
        .store
        .put(&context_key(&row.id), storage::bytes_stream(context))
        .await?;
    platform
        .store
        .put(&files_key(&row.id), storage::bytes_stream(files))
        .await?;
    let mut tx = platform.db.pool().begin().await?;
    db::recipes::insert(&mut *tx, &row).await?;
    let job = BuildRecipe {
        recipe_id: row.id.clone(),
    };
    queue::enqueue(&mut *tx, &job, row.created_at).await?;
    tx.commit().await?;
    Ok(row.into())
}

/// What is wrong with the context, if anything: it must be a readable tar of plain files and
/// directories with a `Dockerfile` at its top that [`dockerfile::check`] lets through.
fn check_context(context: &[u8], allowed_bases: &[String]) -> std::result::Result<(), String> {
    let mut archive = tar::Archive::new(context);
    let entries = archive
        .entries()
        .map_err(|err| format!("the recipe is not a tar: {err}"))?;
    let mut dockerfile = None;
    for entry in entries {
        let mut entry = entry.map_err(|err| format!("the recipe is not a readable tar: {err}"))?;
        let path = entry.path().map_err(|err| err.to_string())?.into_owned();
        let kind = entry.header().entry_type();
        if !(kind.is_file() || kind.is_dir() || kind.is_symlink()) {
            return Err(format!(
                "{} is not a file, a directory or a link",
                path.display()
            ));
        }
        if path
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
            || path.is_absolute()
        {
            return Err(format!(
                "{} points outside the build context",
                path.display()
            ));
        }
        if kind.is_file()
            && path.strip_prefix(".").unwrap_or(&path) == std::path::Path::new("Dockerfile")
        {
            let mut text = String::new();
            std::io::Read::read_to_string(
                &mut std::io::Read::take(&mut entry, MAX_DOCKERFILE_BYTES),
                &mut text,
            )
            .map_err(|_| "the Dockerfile is not UTF-8 text".to_string())?;
            dockerfile = Some(text);
        }
    }
    let text = dockerfile.ok_or(
        "the tar has no Dockerfile at its top: put one beside the recipe's files".to_string(),
    )?;
    dockerfile::check(&text, allowed_bases)
}

/// The longest Dockerfile read.
const MAX_DOCKERFILE_BYTES: u64 = 1024 * 1024;

/// The miner's recipes, newest first.
pub async fn of_miner(platform: &Platform, miner: &Miner) -> Result<Vec<Recipe>> {
    let rows = db::recipes::for_miner(platform.db.pool(), &miner.id).await?;
    Ok(rows.into_iter().map(Recipe::from).collect())
}

/// The job that builds an uploaded recipe.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct BuildRecipe {
    pub recipe_id: String,
}

impl Job for BuildRecipe {
    const NAME: &'static str = "build_recipe";
    const QUEUE: Queue = Queue::Trainer;
    type Context = super::Arena;

    fn subject(&self) -> &str {
        &self.recipe_id
    }

    async fn run(self, arena: super::Arena) -> Result<()> {
        build(&arena, &self.recipe_id).await
    }
}

/// Builds an uploaded recipe on the trainer host. A build that fails (a bad Dockerfile, the time
/// limit) is recorded with its log and not retried; an engine that cannot be reached is.
pub async fn build(arena: &super::Arena, id: &str) -> Result<()> {
    let Some(row) = db::recipes::by_id(arena.db.pool(), id).await? else {
        return Ok(());
    };
    if row.state != RecipeState::Uploaded {
        return Ok(());
    }
    let trainers = &arena.trainers;
    let context = storage::collect(arena.store.get(&context_key(id)).await?)
        .await
        .map_err(|err| Error::Internal(format!("reading the recipe: {err}")))?;
    let db = arena.db.pool();
    // Checked again: the operator's list of base images may have changed since the upload.
    if let Err(why) = check_context(&context, &trainers.allowed_bases) {
        db::recipes::failed(db, id, &why, now_ms()).await?;
        return Ok(());
    }
    let limits = runner::Limits {
        time: trainers.build_timeout,
        ..trainers.limits
    };
    let built = runner::DockerRunner::build(&trainers.docker, &image_tag(), context, &limits).await;
    match built {
        Ok(image) => {
            let log = format!("built ({})", image.id);
            db::recipes::built(db, id, &image.tag, &image.id, &log, now_ms()).await?;
        }
        Err(runner::RunnerError::Build(why)) => {
            db::recipes::failed(db, id, last_bytes(&why, KEPT_LOG_BYTES), now_ms()).await?;
        }
        Err(err) => return Err(Error::Internal(format!("the trainer host: {err}"))),
    }
    Ok(())
}

/// The end of `text`, at most `bytes` long, cut at a character boundary.
fn last_bytes(text: &str, bytes: usize) -> &str {
    let start = (text.len().saturating_sub(bytes)..=text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    &text[start..]
}

/// The recipe's build context as uploaded, streamed; only a tournament winner's is published.
pub async fn published_context(platform: &Platform, id: &str) -> Result<storage::ByteStream> {
    if !db::tournaments::has_won(platform.db.pool(), id).await? {
        return Err(Error::NotFound("published recipe"));
    }
    Ok(platform.store.get(&context_key(id)).await?)
}

/// A file of a published recipe, for its browsable tree.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct RecipeFile {
    pub path: String,
    pub size: u64,
    /// The text of a small UTF-8 file (the Dockerfile, scripts); none for binaries and large files.
    pub text: Option<String>,
}

/// The files of a published recipe, in the order of the tar, from the list stored at upload (made
/// from the context, once, for a recipe uploaded before lists were stored).
pub async fn published_files(platform: &Platform, id: &str) -> Result<Vec<RecipeFile>> {
    if !db::tournaments::has_won(platform.db.pool(), id).await? {
        return Err(Error::NotFound("published recipe"));
    }
    let unreadable = |err: String| Error::Internal(format!("the recipe's file list: {err}"));
    match platform.store.get(&files_key(id)).await {
        Ok(stream) => {
            let bytes = storage::collect(stream)
                .await
                .map_err(|err| unreadable(err.to_string()))?;
            serde_json::from_slice(&bytes).map_err(|err| unreadable(err.to_string()))
        }
        Err(storage::StorageError::NotFound(_)) => {
            let context = storage::collect(platform.store.get(&context_key(id)).await?)
                .await
                .map_err(|err| unreadable(err.to_string()))?;
            let files = list_files(&context);
            let json = serde_json::to_vec(&files).expect("a file list serialises");
            platform
                .store
                .put(&files_key(id), storage::bytes_stream(json))
                .await?;
            Ok(files)
        }
        Err(err) => Err(err.into()),
    }
}

/// The largest file whose text is kept, and the most text kept for one recipe.
const TEXT_FILE_BYTES: u64 = 64 * 1024;
const TEXT_BUDGET_BYTES: u64 = 1024 * 1024;

/// The regular files of a build context (a tar already checked), with the text of small UTF-8 ones.
fn list_files(context: &[u8]) -> Vec<RecipeFile> {
    let mut archive = tar::Archive::new(context);
    let Ok(entries) = archive.entries() else {
        return Vec::new();
    };
    let mut budget = TEXT_BUDGET_BYTES;
    let mut files = Vec::new();
    for mut entry in entries.flatten() {
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let Ok(path) = entry.path().map(|p| p.display().to_string()) else {
            continue;
        };
        let size = entry.size();
        let mut text = None;
        if size <= TEXT_FILE_BYTES.min(budget) {
            let mut bytes = Vec::new();
            if std::io::Read::read_to_end(&mut entry, &mut bytes).is_ok() {
                text = String::from_utf8(bytes).ok();
                budget -= size;
            }
        }
        files.push(RecipeFile { path, size, text });
    }
    files
}
