//! Champion mode: a customer's task trained by the reigning tournament champion's recipe on the
//! platform's own trainer hosts instead of by a pool of miners. The task needs no offers: once its data
//! is ready its window opens and a `train_with_champion` job runs the recipe in a sandbox with the
//! window's time (less a reserve to store the model). The model is stored as the champion miner's
//! submission and goes to evaluation at once; a recipe that fails ends the task with its reason.

use std::path::Path;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::Arena;
use crate::clock::{Millis, now_ms};
use crate::datasets::TaskType;
use crate::db::{self, Database, recipes::RecipeRow, submissions::SubmissionRow};
use crate::error::{Error, Result};
use crate::queue::{self, Job, Queue};
use crate::sandbox::recipe_run as runs;
use crate::tasks::state::TaskState;
use crate::tasks::task::{self as tasks, Task, get_any};
use crate::tasks::{fan_out, window::upload_key};
use crate::tournaments::play::kind_of;

/// The recipe that holds a tournament title, and whose it is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Champion {
    pub recipe_id: String,
    pub recipe: String,
    pub hotkey: String,
    /// The tournament it last won.
    pub tournament_id: String,
}

/// The champion of the last completed tournament of `task_type`'s kind, who would train such a task;
/// a clear refusal when champion mode cannot take it.
pub async fn for_task_type(platform: &crate::Platform, task_type: TaskType) -> Result<Champion> {
    let refuse = |why: String| Err(Error::invalid("run_by", why));
    if task_type == TaskType::Image {
        return refuse(
            "champion mode takes text tasks for now; choose miners for an image task".into(),
        );
    }
    if platform.trainers.is_none() || platform.evaluator.is_none() {
        return refuse(
            "this platform has no trainer host to run the champion's recipe; choose miners".into(),
        );
    }
    let kind = kind_of(task_type);
    let pool = platform.db.pool();
    let last = db::tournaments::last_completed(pool, kind).await?;
    let Some((tournament_id, recipe_id)) =
        last.and_then(|t| t.winner_recipe_id.map(|recipe| (t.id, recipe)))
    else {
        return refuse(format!(
            "no {kind} tournament has crowned a champion yet; choose miners"
        ));
    };
    let name = db::tournaments::recipe_name(pool, &recipe_id)
        .await?
        .ok_or_else(|| Error::Internal(format!("the champion's recipe {recipe_id} is missing")))?;
    Ok(Champion {
        recipe_id,
        recipe: name.name,
        hotkey: name.hotkey,
        tournament_id,
    })
}

/// The task's data is ready: its window opens now and the champion's recipe is queued to train it.
pub(crate) async fn start(
    db: &Database,
    hour_ms: Millis,
    task: &Task,
    recipe_id: &str,
) -> Result<()> {
    let name = db::tournaments::recipe_name(db.pool(), recipe_id)
        .await?
        .map_or_else(|| recipe_id.to_string(), |n| n.name);
    let reason = format!(
        "data ready; the reigning champion's recipe {name} trains the task on the platform's trainer hosts"
    );
    let now = db.now().await?;
    let mut tx = db.pool().begin().await?;
    let ready = tasks::transition_in(
        &mut tx,
        &task.id,
        TaskState::PreparingData,
        TaskState::Ready,
        &reason,
        now,
    )
    .await?;
    if ready && fan_out::open_training(&mut tx, task, hour_ms, now).await? {
        let job = TrainWithChampion {
            task_id: task.id.clone(),
        };
        queue::enqueue(&mut *tx, &job, now).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// How long the recipe may train in a window with `left` ms to go: all of it but a tenth (between a
/// second and ten minutes) kept to store the model; none when that leaves nothing.
fn training_time(left: Millis) -> Option<Duration> {
    let reserve = (left / 10).clamp(1_000, 600_000);
    (left > reserve).then(|| Duration::from_millis((left - reserve) as u64))
}

/// The job that trains a champion-mode task with the champion's recipe.
#[derive(Debug, Serialize, Deserialize)]
pub struct TrainWithChampion {
    pub task_id: String,
}

impl Job for TrainWithChampion {
    const NAME: &'static str = "train_with_champion";
    const QUEUE: Queue = Queue::Trainer;
    type Context = Arena;

    fn subject(&self) -> &str {
        &self.task_id
    }

    async fn run(self, arena: Arena) -> Result<()> {
        train(&arena, &self.task_id).await
    }
}

/// Trains task `id` with the champion's recipe and submits its model. Does nothing unless the task is
/// training in champion mode and the champion's model is not in yet, so it is safe to run twice (a
/// second run trains again with the time that is left).
pub async fn train(arena: &Arena, id: &str) -> Result<()> {
    let Some(task) = get_any(&arena.db, id).await? else {
        return Ok(());
    };
    let (TaskState::Training, Some(recipe_id), Some(deadline)) = (
        task.state,
        task.champion_recipe_id.as_deref(),
        task.deadline_at,
    ) else {
        return Ok(());
    };
    let pool = arena.db.pool();
    let recipe = db::recipes::by_id(pool, recipe_id)
        .await?
        .ok_or(Error::NotFound("recipe"))?;
    let submitted = db::submissions::for_task(pool, id).await?;
    if submitted.iter().any(|s| s.miner_id == recipe.miner_id) {
        return Ok(());
    }
    let (trainers, evaluator) = (&arena.trainers, &arena.evaluator);
    let Some(time) = training_time(deadline - now_ms()) else {
        let why =
            "the window closed before the champion's recipe could start; create the task again";
        return give_up(arena, id, why).await;
    };
    let work =
        tempfile::tempdir().map_err(|err| Error::Internal(format!("a work directory: {err}")))?;
    let data_dir = work.path().join("data");
    let rows = crate::storage::collect(arena.store.get(&task.splits.train()).await?)
        .await
        .map_err(|err| Error::Internal(format!("reading the training split: {err}")))?;
    runs::write_task_rows(&String::from_utf8_lossy(&rows), 0, 1, &data_dir)
        .map_err(|err| Error::Internal(format!("writing the training rows: {err}")))?;
    let base_model = evaluator.base_models.join(&task.model_id);
    let inputs = runs::TaskInputs {
        task_id: task.id.clone(),
        data_dir,
        task_type: task.task_type.as_str(),
        base_model: &base_model,
        time,
    };
    let started = Instant::now();
    let (mut attempts, mut log) = (0, String::new());
    tracing::info!(task = %id, recipe = %recipe.id, seconds = time.as_secs_f64(), "the champion trains a task");
    let trained = runs::train(
        trainers,
        &inputs,
        &recipe,
        work.path(),
        &mut attempts,
        &mut log,
    )
    .await;
    let model = match trained {
        Ok(model) => model,
        Err(why) => {
            let start = (log.len().saturating_sub(2_000)..=log.len())
                .find(|&i| log.is_char_boundary(i))
                .unwrap_or(log.len());
            let tail = &log[start..];
            tracing::warn!(task = %id, recipe = %recipe.id, %why, log = %tail, "the champion's recipe failed");
            let why = format!(
                "the champion's recipe {} produced no model: {why}; create the task again",
                recipe.name
            );
            return give_up(arena, id, &why).await;
        }
    };
    submit(arena, &task, &recipe, &model.tar, started.elapsed()).await
}

/// Stores the model (`tar`, as its run was vetted) as the champion miner's submission and sends the
/// task to evaluation.
async fn submit(
    arena: &Arena,
    task: &Task,
    recipe: &RecipeRow,
    tar: &Path,
    took: Duration,
) -> Result<()> {
    let stream = crate::storage::file_stream(tar)
        .await
        .map_err(|err| Error::Internal(format!("reading the champion's model: {err}")))?;
    let key = upload_key(&task.id, &recipe.miner_id);
    let stored = arena.store.put(&key, stream).await?;
    let received_at = now_ms();
    if task
        .deadline_at
        .is_some_and(|deadline| received_at > deadline)
    {
        let why = "the champion's recipe finished after the deadline; create the task again with more hours";
        arena.store.delete(&key).await?;
        return give_up(arena, &task.id, why).await;
    }
    let mut tx = arena.db.pool().begin().await?;
    let row = SubmissionRow {
        id: uuid::Uuid::now_v7().to_string(),
        task_id: task.id.clone(),
        miner_id: recipe.miner_id.clone(),
        sha256: stored.sha256,
        size_bytes: i64::try_from(stored.size).unwrap_or(i64::MAX),
        received_at,
        object_key: key.as_str().to_string(),
    };
    let reason = format!(
        "the champion's recipe {} trained a model in {:.1} s",
        recipe.name,
        took.as_secs_f64()
    );
    let recorded = fan_out::end_training(&mut tx, &task.id, &reason, None, received_at).await?;
    if recorded {
        db::submissions::upsert(&mut *tx, &row).await?;
    }
    tx.commit().await?;
    if !recorded {
        // Another run of this job got there first: this model is nobody's submission.
        arena.store.delete(&key).await?;
    }
    Ok(())
}

/// Ends the task's training without a model, for `why`.
async fn give_up(arena: &Arena, id: &str, why: &str) -> Result<()> {
    let mut tx = arena.db.pool().begin().await?;
    let reason = "the champion's recipe ended without a model";
    fan_out::end_training(&mut tx, id, reason, Some(why), now_ms()).await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::training_time;
    use std::time::Duration;

    #[test]
    fn the_recipe_gets_the_window_less_a_reserve_to_store_its_model() {
        assert_eq!(training_time(3_600_000), Some(Duration::from_secs(3_240)));
        assert_eq!(
            training_time(10 * 3_600_000),
            Some(Duration::from_secs(36_000 - 600)),
            "the reserve is at most ten minutes"
        );
        assert_eq!(
            training_time(6_000),
            Some(Duration::from_secs(5)),
            "and at least a second"
        );
        assert_eq!(training_time(1_000), None);
        assert_eq!(training_time(-5), None);
    }
}
