//! A task as it is stored and read, and its moves: every move is an event with a reason a person can
//! act on, made in the same transaction as the move and only from the state it expects, so it is safe
//! to try twice, from any replica. Evaluation, fan-out and champion mode move tasks through here.

use serde::{Deserialize, Serialize};

use super::rewards::RewardFunction;
use super::state::TaskState;
use crate::accounts::User;
use crate::clock::{Millis, now_ms};
use crate::datasets::{TaskType, dataset::Splits};
use crate::db::{self, Database, tasks::EventRow, tasks::TaskRow};
use crate::error::{Error, Result};

/// Who trains a task: a pool of competing miners, or the reigning tournament champion's recipe on the
/// platform's own trainer hosts (champion mode).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunBy {
    #[default]
    Miners,
    Champion,
}

impl RunBy {
    pub fn as_str(self) -> &'static str {
        match self {
            RunBy::Miners => "miners",
            RunBy::Champion => "champion",
        }
    }

    pub fn parse(s: &str) -> Option<RunBy> {
        [RunBy::Miners, RunBy::Champion]
            .into_iter()
            .find(|run_by| run_by.as_str() == s)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Task {
    pub id: String,
    pub dataset_id: String,
    pub task_type: TaskType,
    pub model_id: String,
    pub hours_to_complete: u64,
    pub state: TaskState,
    pub pool_min: u64,
    pub pool_max: u64,
    pub created_at: Millis,
    pub updated_at: Millis,
    /// The fan-out round (0 for the first offers, one more for each retry).
    pub round: u64,
    pub offers_close_at: Option<Millis>,
    pub window_starts_at: Option<Millis>,
    /// After this, submissions are refused.
    pub deadline_at: Option<Millis>,
    pub run_by: RunBy,
    /// In champion mode, the champion's recipe that trains the task.
    pub champion_recipe_id: Option<String>,
    /// GRPO: the reward functions the submissions are scored by; empty for other task types.
    #[serde(default)]
    pub reward_functions: Vec<RewardFunction>,
    /// The splits the task was created with: what its miners train on and it is scored on, whatever
    /// happens to the dataset later.
    #[serde(skip)]
    pub splits: Splits,
    /// The submission the customer receives, once the task has succeeded.
    #[serde(skip)]
    pub winner_submission_id: Option<String>,
    /// The base model's own loss on the held-out split, measured once when evaluation starts: the
    /// mark each submission's improvement is counted from.
    pub base_loss: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Event {
    pub from_state: Option<TaskState>,
    pub to_state: TaskState,
    pub reason: String,
    pub at: Millis,
}

impl TryFrom<TaskRow> for Task {
    type Error = Error;

    fn try_from(row: TaskRow) -> Result<Task> {
        let corrupt =
            |what: &str| Error::Internal(format!("task {} has a malformed {what}", row.id));
        let splits = Splits::stored(row.splits_prefix.clone(), &row.dataset_id);
        let reward_functions = match row.reward_functions.as_deref() {
            None => Vec::new(),
            Some(json) => serde_json::from_str(json).map_err(|_| corrupt("reward functions"))?,
        };
        Ok(Task {
            task_type: TaskType::parse(&row.task_type).ok_or_else(|| corrupt("task type"))?,
            state: TaskState::parse(&row.state).ok_or_else(|| corrupt("state"))?,
            hours_to_complete: u64::try_from(row.hours_to_complete).unwrap_or(0),
            pool_min: u64::try_from(row.pool_min).unwrap_or(0),
            pool_max: u64::try_from(row.pool_max).unwrap_or(0),
            id: row.id,
            dataset_id: row.dataset_id,
            model_id: row.model_id,
            created_at: row.created_at,
            updated_at: row.updated_at,
            round: u64::try_from(row.round).unwrap_or(0),
            offers_close_at: row.offers_close_at,
            window_starts_at: row.window_starts_at,
            deadline_at: row.deadline_at,
            run_by: if row.trainer_recipe_id.is_some() {
                RunBy::Champion
            } else {
                RunBy::Miners
            },
            champion_recipe_id: row.trainer_recipe_id,
            reward_functions,
            splits,
            winner_submission_id: row.winner_submission_id,
            base_loss: row.base_loss,
        })
    }
}

pub(crate) fn event(
    task_id: &str,
    from: Option<TaskState>,
    to: TaskState,
    reason: &str,
    at: Millis,
) -> EventRow {
    EventRow {
        id: uuid::Uuid::now_v7().to_string(),
        task_id: task_id.to_string(),
        from_state: from.map(|s| s.as_str().to_string()),
        to_state: to.as_str().to_string(),
        reason: reason.to_string(),
        at,
    }
}

/// Moves task `id` from `from` to `to` with an event giving `reason`; false (and nothing written) when
/// the task is no longer in `from`.
pub async fn transition(
    db: &Database,
    id: &str,
    from: TaskState,
    to: TaskState,
    reason: &str,
) -> Result<bool> {
    if !from.can_move_to(to) {
        return Err(Error::Internal(format!(
            "a task cannot move from {} to {}",
            from.as_str(),
            to.as_str()
        )));
    }
    let mut tx = db.pool().begin().await?;
    if !transition_in(&mut tx, id, from, to, reason, now_ms()).await? {
        return Ok(false);
    }
    tx.commit().await?;
    Ok(true)
}

/// `transition` inside the caller's transaction, for a move that goes with other writes: the one
/// place a task's state changes. The caller has decided the move is allowed (an admin's re-evaluation
/// makes one that `can_move_to` does not). A move to an end state
/// also goes in the outbox, from which webhooks announce it.
pub(crate) async fn transition_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
    from: TaskState,
    to: TaskState,
    reason: &str,
    now: Millis,
) -> Result<bool> {
    if !db::tasks::change_state(&mut **tx, id, from.as_str(), to.as_str(), now).await? {
        return Ok(false);
    }
    let event = event(id, Some(from), to, reason, now);
    db::tasks::insert_event(&mut **tx, &event).await?;
    if to.is_terminal() {
        db::tasks::insert_outbox(&mut **tx, &event).await?;
    }
    Ok(true)
}

/// Task `id`, whoever owns it (for background work and miners).
pub async fn get_any(db: &Database, id: &str) -> Result<Option<Task>> {
    db::tasks::by_id(db.pool(), id)
        .await?
        .map(Task::try_from)
        .transpose()
}

/// The owner's task `id`; another account's task is "not found".
pub async fn get(db: &Database, owner: &User, id: &str) -> Result<Task> {
    match db::tasks::by_id(db.pool(), id).await? {
        Some(row) if row.owner_id == owner.id => row.try_into(),
        _ => Err(Error::NotFound("task")),
    }
}

pub async fn list(db: &Database, owner: &User) -> Result<Vec<Task>> {
    db::tasks::for_owner(db.pool(), &owner.id)
        .await?
        .into_iter()
        .map(Task::try_from)
        .collect()
}

/// The owner's task's events, oldest first.
pub async fn events(db: &Database, owner: &User, id: &str) -> Result<Vec<Event>> {
    get(db, owner, id).await?;
    db::tasks::events(db.pool(), id)
        .await?
        .into_iter()
        .map(|row| {
            let state = |s: &str| {
                TaskState::parse(s).ok_or_else(|| {
                    Error::Internal(format!("event {} has a malformed state", row.id))
                })
            };
            Ok(Event {
                from_state: row.from_state.as_deref().map(state).transpose()?,
                to_state: state(&row.to_state)?,
                reason: row.reason.clone(),
                at: row.at,
            })
        })
        .collect()
}

/// A task that has ended cannot be cancelled: a conflict naming its end state.
fn still_open(task: &Task) -> Result<()> {
    if task.state.is_terminal() {
        return Err(Error::Conflict {
            field: None,
            message: format!(
                "the task has ended ({}); it cannot be cancelled",
                task.state.as_str()
            ),
        });
    }
    Ok(())
}

/// Cancels the owner's task unless it has ended; a task moved meanwhile is cancelled from its new state.
pub async fn cancel(db: &Database, owner: &User, id: &str) -> Result<Task> {
    loop {
        let task = get(db, owner, id).await?;
        still_open(&task)?;
        if transition(
            db,
            id,
            task.state,
            TaskState::Cancelled,
            "cancelled by the customer",
        )
        .await?
        {
            return get(db, owner, id).await;
        }
    }
}

/// The latest `limit` tasks of every customer, newest first, for admins.
pub async fn recent(db: &Database, admin: &User, limit: i64) -> Result<Vec<Task>> {
    admin.require_admin("see every task")?;
    db::tasks::recent(db.pool(), limit)
        .await?
        .into_iter()
        .map(Task::try_from)
        .collect()
}

/// Cancels any task that has not ended, as an admin: the reason goes into the task's events (the
/// customer reads it) and into the admins' log, in one transaction.
pub async fn cancel_as_admin(db: &Database, admin: &User, id: &str, reason: &str) -> Result<Task> {
    admin.require_admin("cancel a customer's task")?;
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(Error::invalid(
            "reason",
            "say why the task is cancelled; the customer reads it",
        ));
    }
    loop {
        let task = get_any(db, id).await?.ok_or(Error::NotFound("task"))?;
        still_open(&task)?;
        let why = format!("cancelled by an admin: {reason}");
        let mut tx = db.pool().begin().await?;
        if transition_in(
            &mut tx,
            id,
            task.state,
            TaskState::Cancelled,
            &why,
            now_ms(),
        )
        .await?
        {
            crate::admin_log::record(&mut *tx, &admin.email, "cancel_task", id, reason).await?;
            tx.commit().await?;
            return get_any(db, id).await?.ok_or(Error::NotFound("task"));
        }
    }
}
