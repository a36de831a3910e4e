//! Background work claimed from the database. Loops only claim; each kind of job is a plain async
//! function that is safe to run twice (a worker may die after the work and before marking it done).

use std::time::Duration;

use crate::clock::{Millis, now_ms};
use crate::db::{self, jobs::JobRow};
use crate::error::{Error, Result};
use crate::{Platform, datasets, tasks};

/// How long a claim lasts without a heartbeat, by default; a dead worker's job is claimable again after
/// it. Deployments set their own (`Platform::job_lease_ms`).
pub const LEASE_MS: Millis = 60_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobKind {
    ValidateDataset,
    PrepareTask,
    AdvanceTask,
    EvaluateTask,
    DeliverWebhook,
    BuildRecipe,
    AdvanceTournament,
    OpenTournament,
    TrainWithChampion,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::ValidateDataset => "validate_dataset",
            JobKind::PrepareTask => "prepare_task",
            JobKind::AdvanceTask => "advance_task",
            JobKind::EvaluateTask => "evaluate_task",
            JobKind::DeliverWebhook => "deliver_webhook",
            JobKind::BuildRecipe => "build_recipe",
            JobKind::AdvanceTournament => "advance_tournament",
            JobKind::OpenTournament => "open_tournament",
            JobKind::TrainWithChampion => "train_with_champion",
        }
    }

    fn parse(s: &str) -> Option<JobKind> {
        [
            JobKind::ValidateDataset,
            JobKind::PrepareTask,
            JobKind::AdvanceTask,
            JobKind::EvaluateTask,
            JobKind::DeliverWebhook,
            JobKind::BuildRecipe,
            JobKind::AdvanceTournament,
            JobKind::OpenTournament,
            JobKind::TrainWithChampion,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == s)
    }
}

/// Attempts before a job fails for good (Gradients retries failed steps this often too).
pub const MAX_ATTEMPTS: i64 = 4;

/// Delay before retry `attempt` (1-based): 5 s, 10 s, 20 s, … at most 10 minutes.
pub fn backoff(attempt: i64) -> Millis {
    (5_000i64 << attempt.clamp(1, 8).saturating_sub(1)).min(600_000)
}

/// Claims one due job and runs it; returns false when there was none.
pub async fn run_next(platform: &Platform) -> Result<bool> {
    let now = now_ms();
    let db = &platform.db;
    let Some(job) =
        db::jobs::claim(db.pool(), db.backend(), now, now + platform.job_lease_ms).await?
    else {
        return Ok(false);
    };
    if job.attempts > job.max_attempts {
        let message = format!(
            "gave up after {} attempts: the worker stopped each time",
            job.max_attempts
        );
        db::jobs::fail(db.pool(), &job, &message, None, now_ms()).await?;
        return Ok(true);
    }
    let heartbeat = tokio::spawn(keep_lease(platform.clone(), job.clone()));
    let outcome = run(platform, &job).await;
    heartbeat.abort();
    // Recorded only while the job is still this claim: a worker whose lease lapsed (a pause, a slow
    // disk) must not finish or requeue the claim of the worker that took the job over.
    let recorded = match &outcome {
        Ok(()) => db::jobs::finish(db.pool(), &job, now_ms()).await?,
        Err(err) => {
            tracing::warn!(job = %job.id, kind = %job.kind, attempt = job.attempts, error = %err, "job failed");
            let retry_at =
                (job.attempts < job.max_attempts).then(|| now_ms() + backoff(job.attempts));
            let recorded =
                db::jobs::fail(db.pool(), &job, &err.to_string(), retry_at, now_ms()).await?;
            if recorded && retry_at.is_none() && job.kind == JobKind::EvaluateTask.as_str() {
                crate::evaluation::job_gave_up(platform, &job.subject_id, job.attempts).await?;
            }
            recorded
        }
    };
    if !recorded {
        tracing::warn!(job = %job.id, kind = %job.kind, "the job's lease lapsed and another worker claimed it; this run's ending is not recorded");
    }
    Ok(true)
}

async fn run(platform: &Platform, job: &JobRow) -> Result<()> {
    match JobKind::parse(&job.kind) {
        Some(JobKind::ValidateDataset) => {
            datasets::ingest::validate_dataset(platform, &job.subject_id).await
        }
        Some(JobKind::PrepareTask) => tasks::prepare(platform, &job.subject_id).await,
        Some(JobKind::AdvanceTask) => tasks::fan_out::advance(platform, &job.subject_id).await,
        Some(JobKind::DeliverWebhook) => crate::webhooks::deliver(platform, &job.subject_id).await,
        Some(JobKind::BuildRecipe) => {
            crate::tournaments::recipes::build(platform, &job.subject_id).await
        }
        Some(JobKind::AdvanceTournament) => {
            crate::tournaments::play::advance(platform, &job.subject_id).await
        }
        Some(JobKind::OpenTournament) => {
            crate::tournaments::play::open_next(platform, &job.subject_id).await
        }
        Some(JobKind::TrainWithChampion) => tasks::champion::train(platform, &job.subject_id).await,
        Some(JobKind::EvaluateTask) => {
            crate::evaluation::evaluate_task(platform, &job.subject_id).await
        }
        None => Err(Error::Internal(format!("unknown job kind {}", job.kind))),
    }
}

async fn keep_lease(platform: Platform, job: JobRow) {
    let lease = platform.job_lease_ms;
    let mut every = tokio::time::interval(Duration::from_millis((lease / 3).max(1) as u64));
    every.tick().await;
    loop {
        every.tick().await;
        match db::jobs::extend_lease(platform.db.pool(), &job, now_ms() + lease).await {
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

/// Runs jobs until `stop` resolves, polling every `idle` when there is nothing to do.
pub async fn work(platform: Platform, idle: Duration, stop: impl std::future::Future<Output = ()>) {
    tokio::pin!(stop);
    loop {
        let ran = tokio::select! {
            () = &mut stop => return,
            ran = run_next(&platform) => ran,
        };
        match ran {
            Ok(true) => continue,
            Ok(false) => {}
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

/// The queue as admins see it: jobs per kind and state, and the latest failures with their reasons.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct QueueHealth {
    /// (kind, state, count)
    pub counts: Vec<(String, String, i64)>,
    /// Newest first.
    pub failures: Vec<Failure>,
}

/// A job whose last attempt failed: `failed` for good, or `queued` to be tried again.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Failure {
    pub id: String,
    pub kind: String,
    /// The dataset, task or delivery the job works on.
    pub subject: String,
    pub state: String,
    pub attempts: i64,
    pub max_attempts: i64,
    pub reason: String,
    pub at: Millis,
}

impl From<db::jobs::FailedJob> for Failure {
    fn from(f: db::jobs::FailedJob) -> Failure {
        Failure {
            id: f.id,
            kind: f.kind,
            subject: f.subject_id,
            state: f.state,
            attempts: f.attempts,
            max_attempts: f.max_attempts,
            reason: f.last_error,
            at: f.updated_at,
        }
    }
}

pub async fn health(platform: &Platform, admin: &crate::accounts::User) -> Result<QueueHealth> {
    admin.require_admin("see the work queue")?;
    let counts = db::jobs::counts_by_kind(platform.db.pool())
        .await?
        .into_iter()
        .map(|c| (c.kind, c.state, c.count))
        .collect();
    let failures = db::jobs::recent_failures(platform.db.pool(), 50)
        .await?
        .into_iter()
        .map(Failure::from)
        .collect();
    Ok(QueueHealth { counts, failures })
}

/// Tries a job that failed for good again from its first attempt (after the cause is mended: an
/// evaluator configured, a store reachable again); the admin's action is logged.
pub async fn retry(
    platform: &Platform,
    admin: &crate::accounts::User,
    id: &str,
) -> Result<Failure> {
    admin.require_admin("retry failed jobs")?;
    let mut tx = platform.db.pool().begin().await?;
    let Some(job) = db::jobs::requeue_failed(&mut *tx, id, now_ms()).await? else {
        return Err(Error::Conflict {
            field: None,
            message: "that job has not failed for good (it is queued, running or done already)"
                .into(),
        });
    };
    let detail = format!(
        "{} on {}; it had failed: {}",
        job.kind, job.subject_id, job.last_error
    );
    crate::admin_log::record(&mut *tx, &admin.email, "retry_job", &job.id, &detail).await?;
    tx.commit().await?;
    Ok(Failure::from(job))
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
