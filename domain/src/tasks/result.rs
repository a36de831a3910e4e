//! What the task's owner sees of its submissions — ranked, with their scores — and the winner's model
//! to download once the task has succeeded.

use serde::{Deserialize, Serialize};

use super::{TaskState, get};
use crate::Platform;
use crate::accounts::User;
use crate::clock::Millis;
use crate::db::{self, Database, evaluations::EvaluationRow};
use crate::error::{Error, Result};
use crate::storage::{ByteStream, ObjectKey};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SubmissionView {
    /// The submission's id (a fine-tuning job's checkpoint, and its `fine_tuned_model` when it won).
    pub id: String,
    /// The miner's hotkey.
    pub miner: String,
    pub sha256: String,
    pub size_bytes: u64,
    pub received_at: Millis,
    /// `pending`, `done` or `failed`; none before evaluation starts.
    pub evaluation: Option<String>,
    pub loss: Option<f64>,
    pub points: Option<i64>,
    pub rank: Option<u32>,
    pub reason: Option<String>,
    /// How much lower its loss is than the base model's own (`base_loss − loss`; above 0 is better than
    /// the base), once both are measured.
    pub improvement: Option<f64>,
}

/// A task's submissions and the base model's own loss they are measured against.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Submissions {
    /// The base model's held-out loss, once measured.
    pub base_loss: Option<f64>,
    pub submissions: Vec<SubmissionView>,
}

/// The owner's task's submissions: ranked ones first by rank, then the rest by receipt.
pub async fn submissions(db: &Database, owner: &User, id: &str) -> Result<Submissions> {
    let task = get(db, owner, id).await?;
    Ok(Submissions {
        base_loss: task.base_loss,
        submissions: ranked(db, id, task.base_loss).await?,
    })
}

async fn ranked(db: &Database, id: &str, base_loss: Option<f64>) -> Result<Vec<SubmissionView>> {
    let mut views: Vec<SubmissionView> = db::submissions::scored_for_task(db.pool(), id)
        .await?
        .into_iter()
        .map(|row| SubmissionView {
            id: row.id,
            miner: row.hotkey,
            sha256: row.sha256,
            size_bytes: u64::try_from(row.size_bytes).unwrap_or(0),
            received_at: row.received_at,
            evaluation: row.evaluation,
            loss: row.loss,
            points: row.points,
            rank: row.rank.and_then(|r| u32::try_from(r).ok()),
            reason: row.reason,
            improvement: base_loss.zip(row.loss).map(|(base, loss)| base - loss),
        })
        .collect();
    views.sort_by_key(|v| (v.rank.is_none(), v.rank, v.received_at));
    Ok(views)
}

/// The winning model of the owner's task: its SHA-256, size and bytes.
pub async fn winning_model(
    platform: &Platform,
    owner: &User,
    id: &str,
) -> Result<(String, u64, ByteStream)> {
    let task = get(&platform.db, owner, id).await?;
    if task.state != TaskState::Success {
        return Err(Error::Conflict {
            field: None,
            message: format!(
                "the task is {}: a winning model exists once it has succeeded",
                task.state.as_str()
            ),
        });
    }
    // The artifact the winning evaluation scored, by the object and SHA-256 it recorded.
    let scored = match task.winner_submission_id.as_deref() {
        Some(submission) => db::evaluations::for_submission(platform.db.pool(), submission).await?,
        None => None,
    };
    let Some(EvaluationRow {
        object_key: Some(key),
        artifact_sha256: Some(sha256),
        ..
    }) = scored
    else {
        return Err(Error::Internal(format!(
            "task {id} succeeded with no evaluated winner"
        )));
    };
    let key = ObjectKey::new(key)?;
    let size = platform.store.size(&key).await?.unwrap_or(0);
    Ok((sha256, size, platform.store.get(&key).await?))
}

/// A finished task as everyone may see it: what was asked and how the submissions scored — never its
/// data, its owner or the models themselves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PublicResult {
    pub task_type: String,
    pub model_id: String,
    pub state: String,
    pub hours_to_complete: u64,
    /// Ranked first, then the rest; each without its artifact's hash.
    pub submissions: Vec<SubmissionView>,
}

/// The public result of task `id`, once it has ended with scores (`success` or `failure`).
pub async fn public(db: &Database, id: &str) -> Result<PublicResult> {
    let task = super::get_any(db, id)
        .await?
        .filter(|t| matches!(t.state, TaskState::Success | TaskState::Failure))
        .ok_or(Error::NotFound("result"))?;
    let mut submissions = ranked(db, id, task.base_loss).await?;
    for submission in &mut submissions {
        submission.sha256.clear();
    }
    Ok(PublicResult {
        task_type: task.task_type.as_str().to_string(),
        model_id: task.model_id,
        state: task.state.as_str().to_string(),
        hours_to_complete: task.hours_to_complete,
        submissions,
    })
}
