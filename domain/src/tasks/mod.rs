//! Fine-tuning tasks: created by a customer from a validated dataset and a base model, then moved
//! through their states by background work. Every move is an event with a reason a person can act on,
//! made in the same transaction as the move, and only from the state it expects (so it is safe to try
//! twice, from any replica).

pub mod fan_out;
pub mod offer_watch;
pub mod result;
pub mod rewards;
pub mod scheduling;
pub mod state;
pub mod task;
pub mod window;

pub use crate::tournaments::champion::{self, Champion};
pub use fan_out::{Dispatch, Offer, PoolSize, Scheduling};
pub use offer_watch::OfferWatch;
pub use rewards::RewardFunction;
pub use state::TaskState;
pub use task::{
    Event, RunBy, Task, cancel, cancel_as_admin, events, get, get_any, list, recent, transition,
};
pub(crate) use task::{event, transition_in};

use serde::{Deserialize, Serialize};

use crate::Platform;
use crate::accounts::User;
use crate::catalogue;
use crate::clock::now_ms;
use crate::datasets::{self, DatasetState, TaskType, dataset::Splits};
use crate::db::{self, tasks::TaskRow};
use crate::error::{Error, Result};
use crate::queue::{self, Job, Queue};

/// What a customer asks for.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
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

/// What will happen if the customer confirms: shown before a task is created.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
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
    let model = offered(platform, &catalogue, &request.model_id, task_type)?;
    let bounds = bounds(&catalogue, task_type)?;
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

/// The catalogue's model `model_id` if it is offered for `task_type` tasks and this deployment can
/// score it; refused with the reason otherwise.
pub fn offered<'c>(
    platform: &Platform,
    catalogue: &'c catalogue::Catalogue,
    model_id: &str,
    task_type: TaskType,
) -> Result<&'c catalogue::BaseModel> {
    let model = catalogue
        .models
        .iter()
        .find(|m| m.id == model_id)
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
    // A model this deployment's evaluator cannot score: refused with the reason. Without any evaluator
    // the task is accepted and waits to be scored (the catalogue says so).
    if let Some(evaluator) = &platform.evaluator
        && let Err(why) = evaluator.can_score(&model.id)
    {
        return Err(Error::invalid("model_id", why));
    }
    Ok(model)
}

/// How long a `task_type` task may run, in hours.
pub fn bounds(catalogue: &catalogue::Catalogue, task_type: TaskType) -> Result<&catalogue::Bounds> {
    catalogue
        .bounds
        .iter()
        .find(|b| b.task_type == task_type)
        .ok_or_else(|| Error::Internal(format!("no bounds for {} tasks", task_type.as_str())))
}

/// Creates the task (`pending`, with its first event) and the job that prepares it, in one transaction.
pub async fn create(platform: &Platform, owner: &User, request: &NewTask) -> Result<Task> {
    let id = uuid::Uuid::now_v7().to_string();
    create_as(platform, owner, request, &id, "created by the customer").await
}

/// Creates the task as `create` does, under the id `id` chosen beforehand, its first event saying `why`;
/// when a task of that id exists already (made by an earlier try), that task.
pub async fn create_as(
    platform: &Platform,
    owner: &User,
    request: &NewTask,
    id: &str,
    why: &str,
) -> Result<Task> {
    if let Some(made) = db::tasks::by_id(platform.db.pool(), id).await? {
        return made.try_into();
    }
    let plan = plan(platform, owner, request).await?;
    let now = now_ms();
    let row = TaskRow {
        id: id.to_string(),
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
        base_loss: None,
    };
    let mut tx = platform.db.pool().begin().await?;
    db::tasks::insert(&mut *tx, &row).await?;
    db::tasks::insert_event(
        &mut *tx,
        &event(&row.id, None, TaskState::Pending, why, now),
    )
    .await?;
    let job = PrepareTask {
        task_id: row.id.clone(),
    };
    queue::enqueue(&mut *tx, &job, now).await?;
    tx.commit().await?;
    row.try_into()
}

/// The job that prepares a new task's data and sends it to look for miners.
#[derive(Debug, Serialize, Deserialize)]
pub struct PrepareTask {
    pub task_id: String,
}

impl Job for PrepareTask {
    const NAME: &'static str = "prepare_task";
    const QUEUE: Queue = Queue::Cpu;
    type Context = Dispatch;

    fn subject(&self) -> &str {
        &self.task_id
    }

    async fn run(self, dispatch: Dispatch) -> Result<()> {
        prepare(&dispatch, &self.task_id).await
    }
}

/// Prepares a pending task's data (its dataset's splits must be stored) and sends it to look for
/// miners. Does nothing unless the task is pending or preparing.
pub async fn prepare(dispatch: &Dispatch, id: &str) -> Result<()> {
    let Some(row) = db::tasks::by_id(dispatch.db.pool(), id).await? else {
        return Ok(());
    };
    let task = Task::try_from(row)?;
    let db = &dispatch.db;
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
        if dispatch.store.size(key).await?.is_none() {
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
        return champion::start(&dispatch.db, dispatch.scheduling.hour_ms, &task, recipe_id).await;
    }
    let reason = format!(
        "data ready; offering the task to {} to {} miners",
        task.pool_min, task.pool_max
    );
    let now = dispatch.db.now().await?;
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
