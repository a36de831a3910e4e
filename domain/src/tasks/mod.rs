//! Fine-tuning tasks: created by a customer from a validated dataset and a base model, then moved
//! through their states by background work. Every move is an event with a reason a person can act on,
//! made in the same transaction as the move, and only from the state it expects (so it is safe to try
//! twice, from any replica).

pub mod champion;
pub mod fan_out;
pub mod offer_watch;
pub mod result;
pub mod rewards;
pub mod scheduling;
pub mod state;
pub mod window;

pub use champion::Champion;
pub use fan_out::{Offer, PoolSize, Scheduling};
pub use offer_watch::OfferWatch;
pub use rewards::RewardFunction;
pub use state::TaskState;

use serde::{Deserialize, Serialize};

use crate::Platform;
use crate::accounts::User;
use crate::catalogue;
use crate::clock::{Millis, now_ms};
use crate::datasets::{self, DatasetState, TaskType, dataset::Splits};
use crate::db::{self, Database, tasks::EventRow, tasks::TaskRow};
use crate::error::{Error, Result};
use crate::queue::{self, Job, Queue};

/// What a customer asks for.
#[derive(Clone, Debug, Deserialize)]
pub struct NewTask {
    pub dataset_id: String,
    pub model_id: String,
    pub hours_to_complete: u64,
    #[serde(default)]
    pub run_by: RunBy,
    /// GRPO only: what the submissions' completions are rewarded for (the length of them when none
    /// is declared).
    #[serde(default)]
    pub reward_functions: Option<Vec<RewardFunction>>,
}

/// Who trains a task: a pool of competing miners, or the reigning tournament champion's recipe on the
/// platform's own trainer hosts (champion mode).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
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

/// What will happen if the customer confirms: shown before a task is created.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskPlan {
    pub dataset_id: String,
    pub task_type: TaskType,
    pub model_id: String,
    pub model_parameters: u64,
    /// Rows the miners train on, and rows held out as the secret test split.
    pub train_rows: u64,
    pub test_rows: u64,
    pub hours_to_complete: u64,
    pub pool_min: u64,
    pub pool_max: u64,
    pub run_by: RunBy,
    /// In champion mode, the recipe that will train the task.
    pub champion: Option<Champion>,
    /// GRPO: the reward functions the submissions are scored by; empty for other task types.
    pub reward_functions: Vec<RewardFunction>,
    /// The dataset's splits as they stand: the task keeps these.
    #[serde(skip)]
    pub splits: Splits,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
        })
    }
}

/// Checks the request against the dataset, the catalogue and the bounds, and says what would happen.
pub async fn plan(platform: &Platform, owner: &User, request: &NewTask) -> Result<TaskPlan> {
    let dataset = datasets::get(&platform.db, owner, &request.dataset_id)
        .await
        .map_err(|err| match err {
            Error::NotFound(_) => Error::invalid("dataset_id", "no dataset of yours has this id"),
            other => other,
        })?;
    let (Some(task_type), Some(report), DatasetState::Ready) =
        (dataset.task_type, dataset.report.as_ref(), dataset.state)
    else {
        return Err(Error::invalid(
            "dataset_id",
            format!(
                "the dataset is {}; validate it until it is ready first",
                dataset.state.as_str()
            ),
        ));
    };
    let catalogue = catalogue::catalogue(&platform.db).await?;
    let model = catalogue
        .models
        .iter()
        .find(|m| m.id == request.model_id)
        .ok_or_else(|| {
            Error::invalid(
                "model_id",
                "no such base model in the catalogue; see GET /api/v1/models",
            )
        })?;
    if !model.task_types.contains(&task_type) {
        return Err(Error::invalid(
            "model_id",
            format!(
                "{} is not offered for {} tasks",
                model.id,
                task_type.as_str()
            ),
        ));
    }
    let bounds = catalogue
        .bounds
        .iter()
        .find(|b| b.task_type == task_type)
        .ok_or_else(|| Error::Internal(format!("no bounds for {} tasks", task_type.as_str())))?;
    if !(bounds.min_hours..=bounds.max_hours).contains(&request.hours_to_complete) {
        return Err(Error::invalid(
            "hours_to_complete",
            format!(
                "a {} task runs {} to {} hours",
                task_type.as_str(),
                bounds.min_hours,
                bounds.max_hours
            ),
        ));
    }
    let (
        PoolSize {
            min: pool_min,
            max: pool_max,
        },
        champion,
    ) = match request.run_by {
        RunBy::Miners => (platform.scheduling.pool(task_type), None),
        RunBy::Champion => (
            PoolSize { min: 1, max: 1 },
            Some(champion::for_task_type(platform, task_type).await?),
        ),
    };
    let reward_functions = match (task_type, &request.reward_functions) {
        (TaskType::Grpo, Some(functions)) => {
            rewards::check(functions)?;
            functions.clone()
        }
        (TaskType::Grpo, None) => rewards::default_functions(),
        (_, Some(_)) => {
            return Err(Error::invalid(
                "reward_functions",
                format!(
                    "reward functions score GRPO tasks; a {} task is scored by its held-out loss",
                    task_type.as_str()
                ),
            ));
        }
        (_, None) => Vec::new(),
    };
    Ok(TaskPlan {
        reward_functions,
        splits: dataset.splits,
        dataset_id: dataset.id,
        task_type,
        model_id: model.id.clone(),
        model_parameters: model.parameters,
        train_rows: report.train_rows,
        test_rows: report.test_rows,
        hours_to_complete: request.hours_to_complete,
        pool_min,
        pool_max,
        run_by: request.run_by,
        champion,
    })
}

/// Creates the task (`pending`, with its first event) and the job that prepares it, in one transaction.
pub async fn create(platform: &Platform, owner: &User, request: &NewTask) -> Result<Task> {
    let plan = plan(platform, owner, request).await?;
    let now = now_ms();
    let row = TaskRow {
        id: uuid::Uuid::now_v7().to_string(),
        owner_id: owner.id.clone(),
        dataset_id: plan.dataset_id,
        task_type: plan.task_type.as_str().to_string(),
        model_id: plan.model_id,
        hours_to_complete: i64::try_from(plan.hours_to_complete).unwrap_or(i64::MAX),
        state: TaskState::Pending.as_str().to_string(),
        pool_min: plan.pool_min as i64,
        pool_max: plan.pool_max as i64,
        created_at: now,
        updated_at: now,
        round: 0,
        offers_close_at: None,
        window_starts_at: None,
        deadline_at: None,
        trainer_recipe_id: plan.champion.map(|c| c.recipe_id),
        splits_prefix: Some(plan.splits.prefix().to_string()),
        reward_functions: (!plan.reward_functions.is_empty()).then(|| {
            serde_json::to_string(&plan.reward_functions).expect("reward functions serialise")
        }),
        winner_submission_id: None,
    };
    let mut tx = platform.db.pool().begin().await?;
    db::tasks::insert(&mut *tx, &row).await?;
    db::tasks::insert_event(
        &mut *tx,
        &event(
            &row.id,
            None,
            TaskState::Pending,
            "created by the customer",
            now,
        ),
    )
    .await?;
    let job = PrepareTask {
        task_id: row.id.clone(),
    };
    queue::enqueue(&mut *tx, &job, now).await?;
    tx.commit().await?;
    row.try_into()
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

/// The job that prepares a new task's data and sends it to look for miners.
#[derive(Debug, Serialize, Deserialize)]
pub struct PrepareTask {
    pub task_id: String,
}

impl Job for PrepareTask {
    const NAME: &'static str = "prepare_task";
    const QUEUE: Queue = Queue::Cpu;
    type Context = Platform;

    fn subject(&self) -> &str {
        &self.task_id
    }

    async fn run(self, platform: Platform) -> Result<()> {
        prepare(&platform, &self.task_id).await
    }
}

/// Prepares a pending task's data (its dataset's splits must be stored) and sends it to look for
/// miners. Does nothing unless the task is pending or preparing.
pub async fn prepare(platform: &Platform, id: &str) -> Result<()> {
    let Some(row) = db::tasks::by_id(platform.db.pool(), id).await? else {
        return Ok(());
    };
    let task = Task::try_from(row)?;
    let db = &platform.db;
    if task.state == TaskState::Pending {
        transition(
            db,
            id,
            TaskState::Pending,
            TaskState::PreparingData,
            "checking the training and test splits",
        )
        .await?;
    } else if task.state != TaskState::PreparingData {
        return Ok(());
    }
    for key in &[task.splits.train(), task.splits.test()] {
        if platform.store.size(key).await?.is_none() {
            transition(
                db,
                id,
                TaskState::PreparingData,
                TaskState::PrepTaskFailure,
                "the dataset's splits are missing from storage; validate the dataset again and create a new task",
            )
            .await?;
            return Ok(());
        }
    }
    if let Some(recipe_id) = &task.champion_recipe_id {
        return champion::start(platform, &task, recipe_id).await;
    }
    let reason = format!(
        "data ready; offering the task to {} to {} miners",
        task.pool_min, task.pool_max
    );
    let now = now_ms();
    let mut tx = db.pool().begin().await?;
    if transition_in(
        &mut tx,
        id,
        TaskState::PreparingData,
        TaskState::LookingForNodes,
        &reason,
        now,
    )
    .await?
    {
        fan_out::schedule(&mut tx, id, now).await?;
    }
    tx.commit().await?;
    Ok(())
}
