//! Background work claimed from the database. The queue knows no workflow: a job is a serialisable
//! struct that names itself, its queue, its priority and its retry policy beside the workflow that owns
//! it ([`Job`]), and queues itself inside its caller's transaction ([`enqueue`]). Only start-up
//! registers handlers ([`Registry`]); each queue has workers of its own ([`Worker`]), so a long
//! evaluation or recipe run never holds up the offers, windows and webhooks of the fast queue.
//!
//! A worker may die after the work and before marking it done, so every job is safe to run twice. Each
//! claim carries a token: a worker whose lease lapsed cannot finish, fail or release its successor's
//! claim. Leases and retries are timed by the database's clock, the same for every replica.

pub mod health;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Serialize, de::DeserializeOwned};
use sqlx::{Any, Executor};

use crate::clock::Millis;
use crate::db::{self, Database, jobs::JobRow};
use crate::error::{Error, Result};

pub use health::{Failure, QueueHealth, health, retry};

/// How long a claim lasts without a heartbeat, by default; a dead worker's job is claimable again after
/// it. Deployments set their own.
pub const LEASE_MS: Millis = 60_000;

/// Attempts before a job fails for good, unless the job says otherwise (Gradients retries failed steps
/// this often too).
pub const MAX_ATTEMPTS: i64 = 4;

/// How the jobs this process ran went, by kind: for the operator's metrics.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Timing {
    pub runs: u64,
    pub failed: u64,
    pub seconds: f64,
}

static TIMINGS: Mutex<BTreeMap<String, Timing>> = Mutex::new(BTreeMap::new());

/// Each kind's runs in this process so far: how many, how many failed, and their seconds in all.
pub fn timings() -> BTreeMap<String, Timing> {
    TIMINGS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone()
}

fn timed(kind: &str, took: Duration, ok: bool) {
    let mut timings = TIMINGS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let timing = timings.entry(kind.to_string()).or_default();
    timing.runs += 1;
    timing.failed += u64::from(!ok);
    timing.seconds += took.as_secs_f64();
}

/// This process, as claims name it: `host:pid`.
static CLAIMANT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    format!("{host}:{}", std::process::id())
});

/// The queues, each with workers of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Queue {
    /// Short steps that keep tasks moving: offers, windows, deadlines, webhooks.
    Fast,
    /// Work on the server's own CPUs: validating datasets, splitting a task's data.
    Cpu,
    /// Scoring submissions; needs an evaluator.
    Evaluation,
    /// Building and running miners' recipes; needs trainer hosts.
    Trainer,
}

impl Queue {
    pub const ALL: [Queue; 4] = [Queue::Fast, Queue::Cpu, Queue::Evaluation, Queue::Trainer];

    pub fn as_str(self) -> &'static str {
        match self {
            Queue::Fast => "fast",
            Queue::Cpu => "cpu",
            Queue::Evaluation => "evaluation",
            Queue::Trainer => "trainer",
        }
    }

    /// What runs on it, for the admin's queue page.
    pub fn runs(self) -> &'static str {
        match self {
            Queue::Fast => {
                "offers, training windows, deadlines, scoring, webhooks, tournament steps"
            }
            Queue::Cpu => "dataset validation, splitting task data",
            Queue::Evaluation => "evaluating submissions, one job each",
            Queue::Trainer => {
                "recipe builds, tournament runs (one entrant on one task each), champion-mode training"
            }
        }
    }
}

/// One kind of background work. Implemented beside the workflow that owns it; its fields are its
/// arguments, stored as JSON with the job.
pub trait Job: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// Stored with each job; never change it for a kind that may be queued.
    const NAME: &'static str;
    const QUEUE: Queue;
    const MAX_ATTEMPTS: i64 = MAX_ATTEMPTS;
    /// Higher runs first among the due jobs of its queue.
    const PRIORITY: i64 = 0;
    /// What its handler needs (the database, the store, an evaluator…), built once at start-up.
    type Context: Clone + Send + Sync + 'static;

    /// What it works on (a dataset, a task, a delivery): shown to admins, and how a task finds its
    /// place in the queue.
    fn subject(&self) -> &str;

    /// Does the work. Must be safe to run twice.
    fn run(self, context: Self::Context) -> impl Future<Output = Result<()>> + Send;

    /// Called once when the job has failed for good, after `attempts` tries.
    fn gave_up(
        self,
        context: Self::Context,
        attempts: i64,
    ) -> impl Future<Output = Result<()>> + Send {
        let _ = (context, attempts);
        async { Ok(()) }
    }
}

/// Queues `job`, due now.
pub async fn enqueue<'e, J: Job>(
    exec: impl Executor<'e, Database = Any>,
    job: &J,
    now: Millis,
) -> Result<String> {
    enqueue_at(exec, job, now, now).await
}

/// Queues `job`, due at `run_at`.
pub async fn enqueue_at<'e, J: Job>(
    exec: impl Executor<'e, Database = Any>,
    job: &J,
    run_at: Millis,
    now: Millis,
) -> Result<String> {
    let payload = serde_json::to_string(job)
        .map_err(|err| Error::Internal(format!("a {} job's arguments: {err}", J::NAME)))?;
    let new = db::jobs::NewJob {
        kind: J::NAME,
        queue: J::QUEUE.as_str(),
        subject_id: job.subject(),
        payload: &payload,
        priority: J::PRIORITY,
        max_attempts: J::MAX_ATTEMPTS,
        run_at,
    };
    Ok(db::jobs::enqueue(exec, &new, now).await?)
}

type BoxedWork = Pin<Box<dyn Future<Output = Result<()>> + Send>>;
type Handler = Box<dyn Fn(&str, Option<i64>) -> BoxedWork + Send + Sync>;

/// The kinds of job a server runs, by name, each with its handler and the context it needs; built
/// once at start-up from what the server has.
#[derive(Default)]
pub struct Registry {
    handlers: HashMap<&'static str, Handler>,
}

impl Registry {
    /// Runs `J` jobs with `context`.
    pub fn register<J: Job>(mut self, context: J::Context) -> Self {
        let handler: Handler = Box::new(move |payload, gave_up_after| {
            let context = context.clone();
            match serde_json::from_str::<J>(payload) {
                Ok(job) => match gave_up_after {
                    None => Box::pin(job.run(context)),
                    Some(attempts) => Box::pin(job.gave_up(context, attempts)),
                },
                Err(err) => {
                    let message =
                        format!("a {} job's stored arguments do not read: {err}", J::NAME);
                    Box::pin(async move { Err(Error::Internal(message)) })
                }
            }
        });
        self.handlers.insert(J::NAME, handler);
        self
    }

    fn run(&self, job: &JobRow, gave_up_after: Option<i64>) -> BoxedWork {
        match self.handlers.get(job.kind.as_str()) {
            Some(handler) => handler(&job.payload, gave_up_after),
            None => {
                let message = format!("no handler for {} jobs on this server", job.kind);
                Box::pin(async move { Err(Error::Internal(message)) })
            }
        }
    }
}

/// How many workers a queue gets on this server, or why it gets none.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Workers {
    pub queue: Queue,
    pub count: usize,
    /// Why the queue is not started here (its context is absent), when `count` is 0.
    pub absent: Option<String>,
}

/// Claims jobs from some queues and runs them with the registry's handlers.
pub struct Worker {
    pub registry: Arc<Registry>,
    pub db: Database,
    pub queues: Vec<Queue>,
    pub lease_ms: Millis,
}

impl Worker {
    /// Claims one due job and runs it; false when there was none.
    pub async fn run_next(&self) -> Result<bool> {
        let Some(job) = self.claim().await? else {
            return Ok(false);
        };
        let outcome = self.run(&job).await;
        self.record(&job, outcome).await?;
        Ok(true)
    }

    /// Runs jobs until `stop` resolves, polling every `idle` when there is nothing to do. A job running
    /// when it resolves is dropped (its containers removed) and released for the next claim, its
    /// attempt not counted.
    pub async fn work(self, idle: Duration, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            let claimed = tokio::select! {
                () = &mut stop => return,
                claimed = self.claim() => claimed,
            };
            match claimed {
                Ok(Some(job)) => {
                    tokio::select! {
                        () = &mut stop => {
                            self.release(&job).await;
                            return;
                        }
                        outcome = self.run(&job) => {
                            if let Err(err) = self.record(&job, outcome).await {
                                tracing::error!(job = %job.id, error = %err, "recording a job's ending failed; it runs again when its lease ends");
                            }
                        }
                    }
                    continue;
                }
                Ok(None) => {}
                Err(err) => {
                    tracing::error!(error = %err, "claiming background work failed; will retry")
                }
            }
            tokio::select! {
                () = &mut stop => return,
                () = tokio::time::sleep(idle) => {}
            }
        }
    }

    async fn claim(&self) -> Result<Option<JobRow>> {
        let now = self.db.now().await?;
        let queues: Vec<&str> = self.queues.iter().map(|q| q.as_str()).collect();
        let claimant = db::jobs::Claimant {
            name: &CLAIMANT,
            queues: &queues,
        };
        let lease_until = now + self.lease_ms;
        let claimed = db::jobs::claim(
            self.db.pool(),
            self.db.backend(),
            claimant,
            now,
            lease_until,
        )
        .await?;
        Ok(claimed)
    }

    /// Runs `job` while a heartbeat keeps its lease.
    async fn run(&self, job: &JobRow) -> Result<()> {
        if job.attempts > job.max_attempts {
            return Err(Error::Internal(format!(
                "gave up after {} attempts: the worker stopped each time",
                job.max_attempts
            )));
        }
        let heartbeat = tokio::spawn(keep_lease(self.db.clone(), job.clone(), self.lease_ms));
        let started = Instant::now();
        let outcome = self.registry.run(job, None).await;
        heartbeat.abort();
        timed(&job.kind, started.elapsed(), outcome.is_ok());
        outcome
    }

    /// Records how `job` ended, while it is still this claim: a worker whose lease lapsed (a pause, a
    /// slow disk) must not finish or requeue the claim of the worker that took the job over.
    async fn record(&self, job: &JobRow, outcome: Result<()>) -> Result<()> {
        let pool = self.db.pool();
        let now = self.db.now().await?;
        let recorded = match &outcome {
            Ok(()) => db::jobs::finish(pool, job, now).await?,
            Err(err) => {
                tracing::warn!(job = %job.id, kind = %job.kind, attempt = job.attempts, error = %err, "job failed");
                let last = job.attempts >= job.max_attempts;
                let retry_at = (!last).then(|| now + backoff(job.attempts));
                let recorded = db::jobs::fail(pool, job, &err.to_string(), retry_at, now).await?;
                if recorded && last {
                    let attempts = job.attempts.min(job.max_attempts);
                    self.registry.run(job, Some(attempts)).await?;
                }
                recorded
            }
        };
        if !recorded {
            tracing::warn!(job = %job.id, kind = %job.kind, "the job's lease lapsed and another worker claimed it; this run's ending is not recorded");
        }
        Ok(())
    }

    async fn release(&self, job: &JobRow) {
        let released = match self.db.now().await {
            Ok(now) => db::jobs::release(self.db.pool(), job, now).await,
            Err(err) => Err(err),
        };
        match released {
            Ok(true) => {
                tracing::info!(job = %job.id, kind = %job.kind, "stopped mid-job; released for the next claim")
            }
            Ok(false) => {}
            Err(err) => {
                tracing::warn!(job = %job.id, error = %err, "could not release a job; it runs again when its lease ends")
            }
        }
    }
}

/// Delay before retry `attempt` (1-based): 5 s, 10 s, 20 s, … at most 10 minutes.
pub fn backoff(attempt: i64) -> Millis {
    (5_000i64 << attempt.clamp(1, 8).saturating_sub(1)).min(600_000)
}

async fn keep_lease(db: Database, job: JobRow, lease: Millis) {
    let mut every = tokio::time::interval(Duration::from_millis((lease / 3).max(1) as u64));
    every.tick().await;
    loop {
        every.tick().await;
        let extended = match db.now().await {
            Ok(now) => db::jobs::extend_lease(db.pool(), &job, now + lease).await,
            Err(err) => Err(err),
        };
        match extended {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(job = %job.id, "a job's claim passed to another worker while it ran");
                return;
            }
            Err(err) => {
                tracing::warn!(job = %job.id, error = %err, "could not extend a job's lease")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::backoff;

    #[test]
    fn backoff_doubles_up_to_ten_minutes() {
        assert_eq!([1, 2, 3].map(backoff), [5_000, 10_000, 20_000]);
        assert_eq!(backoff(20), 600_000);
    }
}
