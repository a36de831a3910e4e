//! What this server's background workers run: every kind of job, registered once at start-up, how
//! many workers each queue gets, and where a task waits among the jobs. Workflows know nothing of this
//! module; it knows every workflow's jobs.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use crate::Platform;
use crate::db::{self, Database};
use crate::queue::{Job, Queue, Registry, Worker, Workers};
use crate::tasks::{Task, TaskState};
use crate::{datasets, evaluation, tasks, tournaments, webhooks};

static REGISTRY: LazyLock<Arc<Registry<Platform>>> = LazyLock::new(|| {
    Arc::new(
        Registry::default()
            .register::<datasets::ingest::ValidateDataset>()
            .register::<tasks::PrepareTask>()
            .register::<tasks::fan_out::AdvanceTask>()
            .register::<tasks::champion::TrainWithChampion>()
            .register::<evaluation::EvaluateTask>()
            .register::<evaluation::EvaluateSubmission>()
            .register::<evaluation::ScoreTask>()
            .register::<webhooks::DeliverWebhook>()
            .register::<tournaments::recipes::BuildRecipe>()
            .register::<tournaments::play::AdvanceTournament>()
            .register::<tournaments::play::OpenTournament>()
            .register::<tournaments::play::RunEntrant>(),
    )
});

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
    let no_trainers = platform.trainers.is_none().then_some(
        "no trainer hosts (--trainers): recipes wait unbuilt and tournaments do not play here",
    );
    vec![
        queue(Queue::Fast, sizes.fast, None),
        queue(Queue::Cpu, sizes.cpu, None),
        queue(Queue::Evaluation, sizes.evaluation, no_evaluator),
        queue(Queue::Trainer, sizes.trainer, no_trainers),
    ]
}

fn worker(platform: &Platform, queues: Vec<Queue>) -> Worker<Platform> {
    Worker {
        registry: REGISTRY.clone(),
        context: platform.clone(),
        db: platform.db.clone(),
        queues,
        lease_ms: platform.job_lease_ms,
    }
}

/// Claims one due job of any queue and runs it; false when none was due. For tests and one-off runs.
pub async fn run_next(platform: &Platform) -> crate::Result<bool> {
    worker(platform, Queue::ALL.to_vec()).run_next().await
}

/// Starts `plan`'s workers; they stop (releasing any job they hold) once `stop` is true.
pub fn start(
    platform: &Platform,
    plan: &[Workers],
    stop: &tokio::sync::watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut handles = Vec::new();
    for workers in plan {
        for _ in 0..workers.count {
            let mut stop = stop.clone();
            let worker = worker(platform, vec![workers.queue]);
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
