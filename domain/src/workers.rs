//! What this server's background workers run: every kind of job, registered once at start-up, how
//! many workers each queue gets, and where a task waits among the jobs. Workflows know nothing of this
//! module; it knows every workflow's jobs.

use std::sync::Arc;
use std::time::Duration;

use crate::Platform;
use crate::db::{self, Database};
use crate::queue::{Job, Queue, Registry, Worker, Workers};
use crate::tasks::{Task, TaskState};
use crate::{datasets, evaluation, fine_tuning, tasks, tournaments, webhooks};

/// Every kind of job this server runs, each with the context its handler needs, built from what the
/// server has: without an evaluator it runs no evaluation, without trainer hosts no recipe.
pub fn registry(platform: &Platform) -> Registry {
    let dispatch = platform.dispatch();
    let organiser = platform.organiser();
    let mut registry = Registry::default()
        .register::<datasets::ingest::ValidateDataset>(platform.ingest())
        .register::<fine_tuning::StartJob>(platform.clone())
        .register::<tasks::PrepareTask>(dispatch.clone())
        .register::<tasks::fan_out::AdvanceTask>(dispatch)
        .register::<evaluation::ScoreTask>(platform.tally())
        .register::<webhooks::DeliverWebhook>(platform.deliveries())
        .register::<tournaments::play::AdvanceTournament>(organiser.clone())
        .register::<tournaments::play::OpenTournament>(organiser);
    if let Some(referee) = platform.referee() {
        registry = registry
            .register::<evaluation::EvaluateTask>(referee.clone())
            .register::<evaluation::baseline::ScoreBaseModel>(referee.clone())
            .register::<evaluation::EvaluateSubmission>(referee);
    }
    if let Some(arena) = platform.arena() {
        registry = registry
            .register::<tournaments::recipes::BuildRecipe>(arena.clone())
            .register::<tournaments::play::RunEntrant>(arena.clone())
            .register::<tournaments::champion::TrainWithChampion>(arena);
    }
    registry
}

/// How many workers each queue asks for; a queue whose context is absent gets none.
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    pub fast: usize,
    pub cpu: usize,
    pub evaluation: usize,
    pub trainer: usize,
}

/// Each queue's workers on a server with `platform`'s evaluator and trainer hosts.
pub fn plan(platform: &Platform, sizes: Sizes) -> Vec<Workers> {
    let queue = |queue, count: usize, absent: Option<&str>| Workers {
        queue,
        count: if absent.is_some() { 0 } else { count.max(1) },
        absent: absent.map(str::to_string),
    };
    let no_evaluator = platform.evaluator.is_none().then_some(
        "no evaluator is configured (--evaluator): tasks wait in preevaluation until a server with one claims them",
    );
    let no_trainers = match (&platform.trainers, &platform.evaluator) {
        (None, _) => Some(
            "no trainer hosts (--trainers): recipes wait unbuilt and tournaments do not play here",
        ),
        (Some(_), None) => Some(
            "no evaluator (--evaluator) to score recipe runs: recipes wait unbuilt and tournaments do not play here",
        ),
        (Some(_), Some(_)) => None,
    };
    vec![
        queue(Queue::Fast, sizes.fast, None),
        queue(Queue::Cpu, sizes.cpu, None),
        queue(Queue::Evaluation, sizes.evaluation, no_evaluator),
        queue(Queue::Trainer, sizes.trainer, no_trainers),
    ]
}

fn worker(platform: &Platform, registry: Arc<Registry>, queues: Vec<Queue>) -> Worker {
    Worker {
        registry,
        db: platform.db.clone(),
        queues,
        lease_ms: platform.job_lease_ms,
    }
}

/// Claims one due job of any queue this server runs and runs it; false when none was due. For tests
/// and one-off runs.
pub async fn run_next(platform: &Platform) -> crate::Result<bool> {
    let queues = plan(
        platform,
        Sizes {
            fast: 1,
            cpu: 1,
            evaluation: 1,
            trainer: 1,
        },
    )
    .into_iter()
    .filter(|workers| workers.count > 0)
    .map(|workers| workers.queue)
    .collect();
    worker(platform, Arc::new(registry(platform)), queues)
        .run_next()
        .await
}

/// Starts `plan`'s workers; they stop (releasing any job they hold) once `stop` is true.
pub fn start(
    platform: &Platform,
    plan: &[Workers],
    stop: &tokio::sync::watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let registry = Arc::new(registry(platform));
    let mut handles = Vec::new();
    for workers in plan {
        for _ in 0..workers.count {
            let mut stop = stop.clone();
            let worker = worker(platform, registry.clone(), vec![workers.queue]);
            handles.push(tokio::spawn(worker.work(
                Duration::from_millis(500),
                async move {
                    let _ = stop.wait_for(|stop| *stop).await;
                },
            )));
        }
    }
    handles
}

/// Where a task waits in the work queue while it waits for a worker to prepare its data or to evaluate
/// its submissions: 1 when it is next. None when it waits for no worker (for miners, say, or for its
/// deadline) or a worker has it now.
pub async fn queue_position(db: &Database, task: &Task) -> crate::Result<Option<u64>> {
    let kinds: &[&str] = match task.state {
        TaskState::Pending | TaskState::PreparingData => &[tasks::PrepareTask::NAME],
        TaskState::Preevaluation | TaskState::Evaluating => &[
            evaluation::EvaluateTask::NAME,
            evaluation::EvaluateSubmission::NAME,
        ],
        _ => return Ok(None),
    };
    let now = db.now().await?;
    let mut positions = Vec::new();
    for kind in kinds {
        positions.extend(db::jobs::queue_position(db.pool(), kind, &task.id, now).await?);
    }
    Ok(positions
        .into_iter()
        .min()
        .and_then(|p| u64::try_from(p).ok()))
}
