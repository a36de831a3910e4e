//! A fine-tuning job as its owner sees it — its status in OpenAI's words, its events and checkpoints —
//! and the moves of its own state before its task exists.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sqlx::{Any, Executor};

use crate::accounts::User;
use crate::clock::{Millis, now_ms};
use crate::datasets::TaskType;
use crate::db::{
    self, Database,
    fine_tuning_jobs::{JobEventRow, JobRow},
};
use crate::error::{Error, Result};
use crate::tasks::{self, Task, TaskState};

/// The job's own state while it waits for its files.
pub(super) const WAITING: &str = "validating_files";
/// Its task exists: the task's state is the job's.
const STARTED: &str = "started";
const FAILED: &str = "failed";
const CANCELLED: &str = "cancelled";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Chat or instruct rows, scored by held-out loss.
    Supervised,
    /// Preference pairs.
    Dpo,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Supervised => "supervised",
            Method::Dpo => "dpo",
        }
    }

    fn parse(s: &str) -> Option<Method> {
        [Method::Supervised, Method::Dpo]
            .into_iter()
            .find(|m| m.as_str() == s)
    }
}

/// OpenAI's job statuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    ValidatingFiles,
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl Status {
    /// A task's state as a job's status: preparing and looking for miners is `queued`, the training
    /// window and the scoring after it `running`.
    fn of_task(state: TaskState) -> Status {
        use TaskState::*;
        match state {
            Pending | PreparingData | LookingForNodes | Delayed | Ready => Status::Queued,
            Training | Preevaluation | Evaluating => Status::Running,
            Success => Status::Succeeded,
            PrepTaskFailure | FailureFindingNodes | Failure => Status::Failed,
            Cancelled => Status::Cancelled,
        }
    }

    pub fn has_ended(self) -> bool {
        matches!(self, Status::Succeeded | Status::Failed | Status::Cancelled)
    }
}

/// Why a job failed: a code a program can match, a message for people, and the request field to blame.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobError {
    pub code: String,
    pub message: String,
    pub param: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: String,
    pub model: String,
    pub training_file: String,
    pub validation_file: Option<String>,
    pub method: Method,
    pub task_type: TaskType,
    pub hyperparameters: serde_json::Value,
    pub suffix: Option<String>,
    pub seed: u64,
    pub metadata: Option<BTreeMap<String, String>>,
    pub hours_to_complete: u64,
    /// The task the job runs as (made once its files are validated).
    pub task_id: String,
    pub status: Status,
    pub error: Option<JobError>,
    pub created_at: Millis,
    pub finished_at: Option<Millis>,
    /// The training window's deadline while the job waits or trains.
    pub estimated_finish: Option<Millis>,
    /// The winning submission, once the job succeeded: downloadable from its task's result.
    pub fine_tuned_model: Option<String>,
}

impl Job {
    fn from_parts(row: JobRow, task: Option<Task>, last_reason: Option<String>) -> Result<Job> {
        let corrupt = |what: &str| {
            Error::Internal(format!("fine-tuning job {} has a malformed {what}", row.id))
        };
        let (status, error, finished_at) = match (&task, row.state.as_str()) {
            (Some(task), _) => {
                let status = Status::of_task(task.state);
                let error = (status == Status::Failed).then(|| JobError {
                    code: match task.state {
                        TaskState::PrepTaskFailure => "data_preparation_failed",
                        TaskState::FailureFindingNodes => "no_miners_available",
                        _ => "no_model_scored",
                    }
                    .into(),
                    message: last_reason.unwrap_or_else(|| "the task failed".into()),
                    param: None,
                });
                (status, error, status.has_ended().then_some(task.updated_at))
            }
            (None, WAITING) => (Status::ValidatingFiles, None, None),
            (None, FAILED) => {
                let error = JobError {
                    code: row.error_code.clone().unwrap_or_else(|| "failed".into()),
                    message: row.error_message.clone().unwrap_or_default(),
                    param: row.error_param.clone(),
                };
                (Status::Failed, Some(error), Some(row.updated_at))
            }
            (None, CANCELLED) => (Status::Cancelled, None, Some(row.updated_at)),
            (None, _) => return Err(corrupt("state")),
        };
        let metadata = match row.metadata.as_deref() {
            None => None,
            Some(text) => Some(serde_json::from_str(text).map_err(|_| corrupt("metadata"))?),
        };
        Ok(Job {
            method: Method::parse(&row.method).ok_or_else(|| corrupt("method"))?,
            task_type: TaskType::parse(&row.task_type).ok_or_else(|| corrupt("task type"))?,
            hyperparameters: serde_json::from_str(&row.hyperparameters)
                .map_err(|_| corrupt("hyperparameters"))?,
            metadata,
            seed: u64::try_from(row.seed).unwrap_or(0),
            hours_to_complete: u64::try_from(row.hours_to_complete).unwrap_or(0),
            estimated_finish: task
                .as_ref()
                .filter(|_| !status.has_ended())
                .and_then(|t| t.deadline_at),
            fine_tuned_model: task
                .as_ref()
                .filter(|t| t.state == TaskState::Success)
                .and_then(|t| t.winner_submission_id.clone()),
            id: row.id,
            model: row.model_id,
            training_file: row.training_file,
            validation_file: row.validation_file,
            suffix: row.suffix,
            task_id: row.task_id,
            created_at: row.created_at,
            status,
            error,
            finished_at,
        })
    }
}

/// The job with its task, if it has one.
async fn load(db: &Database, row: JobRow) -> Result<Job> {
    if row.state != STARTED {
        return Job::from_parts(row, None, None);
    }
    let task = tasks::get_any(db, &row.task_id)
        .await?
        .ok_or_else(|| Error::Internal(format!("fine-tuning job {} has no task", row.id)))?;
    let last_reason = db::tasks::events(db.pool(), &row.task_id)
        .await?
        .pop()
        .map(|event| event.reason);
    Job::from_parts(row, Some(task), last_reason)
}

/// The owner's job row; another account's job is "not found".
async fn owned(db: &Database, owner: &User, id: &str) -> Result<JobRow> {
    match db::fine_tuning_jobs::by_id(db.pool(), id).await? {
        Some(row) if row.owner_id == owner.id => Ok(row),
        _ => Err(Error::NotFound("fine-tuning job")),
    }
}

pub async fn get(db: &Database, owner: &User, id: &str) -> Result<Job> {
    load(db, owned(db, owner, id).await?).await
}

/// A page of the owner's jobs, newest first: up to `limit` after the job `after`, and whether more follow.
pub async fn list(
    db: &Database,
    owner: &User,
    after: Option<&str>,
    limit: usize,
) -> Result<(Vec<Job>, bool)> {
    let cursor = match after {
        Some(id) => {
            let row = owned(db, owner, id)
                .await
                .map_err(|_| Error::invalid("after", "no job of yours has this id"))?;
            Some((row.created_at, row.id))
        }
        None => None,
    };
    let cursor = cursor.as_ref().map(|(at, id)| (*at, id.as_str()));
    let fetch = i64::try_from(limit).unwrap_or(i64::MAX - 1) + 1;
    let mut rows =
        db::fine_tuning_jobs::page_for_owner(db.pool(), &owner.id, cursor, fetch).await?;
    let has_more = rows.len() > limit;
    rows.truncate(limit);
    let mut jobs = Vec::with_capacity(rows.len());
    for row in rows {
        jobs.push(load(db, row).await?);
    }
    Ok((jobs, has_more))
}

/// Cancels the owner's job: before its task exists, the job itself; after, its task.
pub async fn cancel(db: &Database, owner: &User, id: &str) -> Result<Job> {
    let row = owned(db, owner, id).await?;
    match row.state.as_str() {
        WAITING => {
            let now = now_ms();
            let mut tx = db.pool().begin().await?;
            if db::fine_tuning_jobs::change_state(&mut *tx, id, WAITING, CANCELLED, None, now)
                .await?
            {
                record(&mut *tx, id, Level::Info, "Cancelled by the customer", now).await?;
                tx.commit().await?;
            } else {
                // Its task was made meanwhile: cancel that.
                drop(tx);
                return Box::pin(cancel(db, owner, id)).await;
            }
        }
        STARTED => {
            tasks::cancel(db, owner, &row.task_id)
                .await
                .map_err(|err| match err {
                    Error::Conflict { message, .. } => Error::Conflict {
                        field: None,
                        message: message.replace("the task has ended", "the job has ended"),
                    },
                    other => other,
                })?;
        }
        state => {
            return Err(Error::Conflict {
                field: None,
                message: format!("the job has ended ({state}); it cannot be cancelled"),
            });
        }
    }
    get(db, owner, id).await
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Info,
    Warn,
    Error,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }

    /// The level of a task's move into `state`.
    fn of_move(state: TaskState) -> Level {
        match Status::of_task(state) {
            Status::Failed => Level::Error,
            _ if state == TaskState::Delayed => Level::Warn,
            _ => Level::Info,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobEvent {
    pub id: String,
    pub at: Millis,
    pub level: Level,
    pub message: String,
}

/// The job's events, newest first: its own, then its task's moves, each with the reason given for it.
/// Up to `limit` after the event `after`, and whether more follow.
pub async fn events(
    db: &Database,
    owner: &User,
    id: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<(Vec<JobEvent>, bool)> {
    let row = owned(db, owner, id).await?;
    let mut events: Vec<JobEvent> = db::fine_tuning_jobs::events(db.pool(), id)
        .await?
        .into_iter()
        .map(|e| JobEvent {
            id: format!("ftevent-{}", e.id),
            at: e.at,
            level: match e.level.as_str() {
                "error" => Level::Error,
                "warn" => Level::Warn,
                _ => Level::Info,
            },
            message: e.message,
        })
        .collect();
    if row.state == STARTED {
        for e in db::tasks::events(db.pool(), &row.task_id).await? {
            let state = TaskState::parse(&e.to_state)
                .ok_or_else(|| Error::Internal(format!("event {} has a malformed state", e.id)))?;
            events.push(JobEvent {
                id: format!("ftevent-{}", e.id),
                at: e.at,
                level: Level::of_move(state),
                message: format!("Task {}: {}", state.as_str(), e.reason),
            });
        }
    }
    // Ids are UUIDv7s, so they order events of the same millisecond as they happened.
    events.sort_by(|a, b| (b.at, &b.id).cmp(&(a.at, &a.id)));
    Ok(page(events, after, limit, |e| &e.id))
}

/// One scored submission of the job's task, as OpenAI's checkpoint: `step_number` is its rank.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The submission's id.
    pub submission_id: String,
    pub received_at: Millis,
    pub rank: u32,
    /// Its loss on the secret test split.
    pub loss: Option<f64>,
}

/// The job's ranked submissions, best first: up to `limit` after the checkpoint `after`, and whether
/// more follow. None before its task is scored.
pub async fn checkpoints(
    db: &Database,
    owner: &User,
    id: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<(Vec<Checkpoint>, bool)> {
    let row = owned(db, owner, id).await?;
    if row.state != STARTED {
        return Ok((Vec::new(), false));
    }
    let checkpoints: Vec<Checkpoint> = tasks::result::submissions(db, owner, &row.task_id)
        .await?
        .submissions
        .into_iter()
        .filter_map(|s| {
            Some(Checkpoint {
                rank: s.rank?,
                submission_id: s.id,
                received_at: s.received_at,
                loss: s.loss,
            })
        })
        .collect();
    Ok(page(checkpoints, after, limit, |c| &c.submission_id))
}

/// The items after the one whose id is `after` (from the start when it is none or unknown), at most
/// `limit`, and whether more follow.
fn page<T>(
    items: Vec<T>,
    after: Option<&str>,
    limit: usize,
    id: impl Fn(&T) -> &str,
) -> (Vec<T>, bool) {
    let start = after
        .and_then(|after| items.iter().position(|item| id(item) == after))
        .map_or(0, |at| at + 1);
    let rest = items.len().saturating_sub(start);
    let page: Vec<T> = items.into_iter().skip(start).take(limit).collect();
    (page, rest > limit)
}

/// Records one of the job's own events.
pub(super) async fn record<'e>(
    exec: impl Executor<'e, Database = Any>,
    job_id: &str,
    level: Level,
    message: &str,
    at: Millis,
) -> Result<()> {
    let event = JobEventRow {
        id: uuid::Uuid::now_v7().to_string(),
        job_id: job_id.to_string(),
        level: level.as_str().to_string(),
        message: message.to_string(),
        at,
    };
    Ok(db::fine_tuning_jobs::insert_event(exec, &event).await?)
}

/// Fails the waiting job `id` with the error and its event; nothing if it is no longer waiting.
pub(super) async fn fail(
    db: &Database,
    id: &str,
    code: &str,
    message: &str,
    param: Option<&str>,
) -> Result<()> {
    let now = now_ms();
    let mut tx = db.pool().begin().await?;
    let error = Some((code, message, param));
    if db::fine_tuning_jobs::change_state(&mut *tx, id, WAITING, FAILED, error, now).await? {
        record(
            &mut *tx,
            id,
            Level::Error,
            &format!("Failed: {message}"),
            now,
        )
        .await?;
        tx.commit().await?;
    }
    Ok(())
}

/// Marks the waiting job `id` started (its task is made), with `message` as its event; false when it
/// was no longer waiting (cancelled meanwhile).
pub(super) async fn started(db: &Database, id: &str, message: &str) -> Result<bool> {
    let now = now_ms();
    let mut tx = db.pool().begin().await?;
    if !db::fine_tuning_jobs::change_state(&mut *tx, id, WAITING, STARTED, None, now).await? {
        return Ok(false);
    }
    record(&mut *tx, id, Level::Info, message, now).await?;
    tx.commit().await?;
    Ok(true)
}
