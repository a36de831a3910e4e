//! The training window as a miner sees it: the task it accepted, short-lived links to the training
//! data while the window is open, and its submission, refused after the deadline.

use std::time::Duration;

use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::state::TaskState;
use super::task::{Task, get_any};
use crate::Platform;
use crate::clock::Millis;
use crate::datasets::TaskType;
use crate::db::{self, submissions::SubmissionRow};
use crate::error::{Error, Result};
use crate::miners::Miner;
use crate::miners::epistula::Checked;
use crate::storage::{ByteStream, LinkAccess, ObjectKey, StorageError};

/// How long a link to the training data works (never past the deadline).
pub const LINK_TTL_MS: Millis = 15 * 60_000;

/// A task as the miner who accepted it sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MinerTask {
    pub id: String,
    pub task_type: TaskType,
    pub model_id: String,
    pub state: TaskState,
    pub hours_to_complete: u64,
    pub window_starts_at: Option<Millis>,
    pub deadline_at: Option<Millis>,
}

/// Links to the training split: `train.jsonl`, and `train.zip` for image tasks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TrainingData {
    pub files: Vec<TrainingFile>,
    pub expires_at: Millis,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TrainingFile {
    pub name: String,
    pub url: String,
}

/// What the server received: the artifact's hash and size, and the server's own time of receipt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Receipt {
    pub task_id: String,
    pub sha256: String,
    pub size_bytes: u64,
    pub received_at: Millis,
    pub deadline_at: Millis,
}

/// The task, if `miner` accepted it in its current round (others see "not found").
async fn accepted_task(platform: &Platform, miner: &Miner, id: &str) -> Result<Task> {
    let task = get_any(&platform.db, id)
        .await?
        .ok_or(Error::NotFound("task"))?;
    if !db::offers::accepted(platform.db.pool(), id, &miner.id, task.round as i64).await? {
        return Err(Error::NotFound("task"));
    }
    Ok(task)
}

pub async fn for_miner(platform: &Platform, miner: &Miner, id: &str) -> Result<MinerTask> {
    let task = accepted_task(platform, miner, id).await?;
    Ok(MinerTask {
        id: task.id,
        task_type: task.task_type,
        model_id: task.model_id,
        state: task.state,
        hours_to_complete: task.hours_to_complete,
        window_starts_at: task.window_starts_at,
        deadline_at: task.deadline_at,
    })
}

/// The open window's deadline, or why the window is not open.
fn open_window(task: &Task, now: Millis) -> Result<Millis> {
    match (task.state, task.deadline_at) {
        (TaskState::Training, Some(deadline)) if now <= deadline => Ok(deadline),
        (TaskState::Training, Some(deadline)) => Err(Error::Conflict {
            field: None,
            message: format!(
                "the window closed at {} (Unix ms); the deadline has passed",
                deadline
            ),
        }),
        (state, _) => Err(Error::Conflict {
            field: None,
            message: format!(
                "the training window is not open: the task is {}",
                state.as_str()
            ),
        }),
    }
}

pub async fn training_data(platform: &Platform, miner: &Miner, id: &str) -> Result<TrainingData> {
    let task = accepted_task(platform, miner, id).await?;
    let now = platform.db.now().await?;
    let deadline = open_window(&task, now)?;
    let expires_at = (now + LINK_TTL_MS).min(deadline);
    let ttl = Duration::from_millis((expires_at - now).max(1) as u64);
    let mut keys = vec![("train.jsonl", task.splits.train())];
    if task.task_type == TaskType::Image {
        keys.push(("train.zip", task.splits.train_images()));
    }
    let mut files = Vec::new();
    for (name, key) in keys {
        let url = platform.store.presign(&key, LinkAccess::Read, ttl).await?;
        files.push(TrainingFile {
            name: name.to_string(),
            url,
        });
    }
    Ok(TrainingData { files, expires_at })
}

/// Where a new upload of a miner's artifact for a task is stored: a key of its own, which the
/// submission names once the upload is recorded (`SubmissionRow::object_key`).
pub fn upload_key(task_id: &str, miner_id: &str) -> ObjectKey {
    ObjectKey::new(format!(
        "tasks/{task_id}/submissions/{miner_id}/{}.tar",
        uuid::Uuid::now_v7()
    ))
    .expect("task and miner ids are UUIDs")
}

/// A recorded submission's artifact, read from the object its row names.
pub async fn artifact(
    store: &dyn crate::storage::ObjectStore,
    submission: &SubmissionRow,
) -> Result<ByteStream> {
    let key = ObjectKey::new(submission.object_key.as_str())?;
    Ok(store.get(&key).await?)
}

/// Stores the miner's artifact (`body`, at most the platform's limit) if the window is open, checks
/// the SHA-256 it declared and the request's signature over the body, and records it with the
/// server's time; a later submission before the deadline replaces it. Each upload has an object of
/// its own and recording it switches the submission over, so a refused or interrupted upload never
/// touches the artifact already received, and a replacement is never copied.
pub async fn submit(
    platform: &Platform,
    miner: &Miner,
    id: &str,
    checked: Checked,
    declared_sha256: &str,
    body: ByteStream,
) -> Result<Receipt> {
    let task = accepted_task(platform, miner, id).await?;
    open_window(&task, platform.db.now().await?)?;
    let declared = declared_sha256.trim().to_ascii_lowercase();
    if declared.len() != 64 || !declared.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::invalid(
            "sha256",
            "declare the artifact's SHA-256 as 64 hex digits in the X-Artifact-SHA256 header",
        ));
    }
    let max_bytes = platform.scheduling.max_submission_bytes;
    let mut seen = 0u64;
    let limited = body.map(move |chunk| {
        let chunk = chunk?;
        seen += chunk.len() as u64;
        if seen > max_bytes {
            return Err(std::io::Error::new(
                std::io::ErrorKind::FileTooLarge,
                "over the submission limit",
            ));
        }
        Ok(chunk)
    });
    let upload = upload_key(id, &miner.id);
    let stored = match platform.store.put(&upload, Box::pin(limited)).await {
        Ok(stored) => stored,
        Err(StorageError::Io(err)) if err.kind() == std::io::ErrorKind::FileTooLarge => {
            return Err(Error::TooLarge(format!(
                "the artifact is larger than the {max_bytes}-byte limit for a submission; nothing was \
                 recorded, and an earlier submission of yours stands"
            )));
        }
        Err(err) => return Err(err.into()),
    };
    let refuse = |err: Error| async {
        platform.store.delete(&upload).await?;
        Err(err)
    };
    if let Err(refusal) = crate::miners::verify_body(&platform.db, checked, &stored.sha256).await {
        return refuse(refusal).await;
    }
    if stored.sha256 != declared {
        return refuse(Error::invalid(
            "sha256",
            format!(
                "the artifact's SHA-256 is {}, not the {declared} declared; nothing was recorded",
                stored.sha256
            ),
        ))
        .await;
    }
    // Recorded only while the task is training by the database's clock, with its row held until the
    // submission is in: a submission can never land once the task has moved on to evaluation.
    let mut tx = platform.db.pool().begin().await?;
    let backend = platform.db.backend();
    let Some(received_at) = db::tasks::hold_open_window(&mut *tx, backend, id).await? else {
        drop(tx);
        let current = get_any(&platform.db, id).await?.unwrap_or(task);
        let closed = open_window(&current, platform.db.now().await?)
            .err()
            .unwrap_or(Error::Conflict {
                field: None,
                message: "the window closed while the artifact was received; nothing was recorded"
                    .into(),
            });
        return refuse(closed).await;
    };
    let deadline = task.deadline_at.unwrap_or(received_at);
    let replaced = db::submissions::object_key(&mut *tx, id, &miner.id).await?;
    // Should recording fail, the upload stays: a write whose answer was lost may have recorded it.
    db::submissions::upsert(
        &mut *tx,
        &SubmissionRow {
            id: uuid::Uuid::now_v7().to_string(),
            task_id: id.to_string(),
            miner_id: miner.id.clone(),
            sha256: stored.sha256.clone(),
            size_bytes: i64::try_from(stored.size).unwrap_or(i64::MAX),
            received_at,
            object_key: upload.as_str().to_string(),
        },
    )
    .await?;
    tx.commit().await?;
    // The artifact replaced is named by no submission now. Keys are never reused, so it cannot be
    // the one a concurrent upload of the same miner has just recorded.
    if let Some(replaced) = replaced {
        forget(platform, &replaced).await;
    }
    Ok(Receipt {
        task_id: id.to_string(),
        sha256: stored.sha256,
        size_bytes: stored.size,
        received_at,
        deadline_at: deadline,
    })
}

/// Deletes an artifact no submission names any more. The submission is recorded whatever happens
/// here: an artifact left behind takes room but is never read.
async fn forget(platform: &Platform, key: &str) {
    let deleted = match ObjectKey::new(key) {
        Ok(key) => platform.store.delete(&key).await,
        Err(err) => Err(err),
    };
    if let Err(err) = deleted {
        tracing::warn!(key, error = %err, "a replaced submission's artifact was not deleted");
    }
}
