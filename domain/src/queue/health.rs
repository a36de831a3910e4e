//! The queue as admins see it: each queue's workers on this server, jobs by kind and state, the latest
//! failures, and retrying a job that failed for good.

use super::{Queue, Workers};
use crate::clock::Millis;
use crate::db::{self, Database};
use crate::error::{Error, Result};

/// The queue as admins see it: jobs per kind and state, and the latest failures with their reasons.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct QueueHealth {
    /// Each queue, with how many workers this server gives it, or why none.
    pub queues: Vec<QueueWorkers>,
    /// (queue, kind, state, count)
    pub counts: Vec<(String, String, String, i64)>,
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

/// A queue as the admin's page shows it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct QueueWorkers {
    pub name: String,
    pub runs: String,
    pub workers: usize,
    /// Why this server runs none of its jobs.
    pub absent: Option<String>,
}

/// The queues and their jobs; `workers` is what this server runs.
pub async fn health(
    db: &Database,
    admin: &crate::accounts::User,
    workers: &[Workers],
) -> Result<QueueHealth> {
    admin.require_admin("see the work queue")?;
    let queues = Queue::ALL
        .into_iter()
        .map(|queue| {
            let here = workers.iter().find(|w| w.queue == queue);
            QueueWorkers {
                name: queue.as_str().to_string(),
                runs: queue.runs().to_string(),
                workers: here.map_or(0, |w| w.count),
                absent: here.map_or_else(
                    || Some("this server starts no workers for it".to_string()),
                    |w| w.absent.clone(),
                ),
            }
        })
        .collect();
    let counts = db::jobs::counts_by_kind(db.pool())
        .await?
        .into_iter()
        .map(|c| (c.queue, c.kind, c.state, c.count))
        .collect();
    let failures = db::jobs::recent_failures(db.pool(), 50)
        .await?
        .into_iter()
        .map(Failure::from)
        .collect();
    Ok(QueueHealth {
        queues,
        counts,
        failures,
    })
}

/// Tries a job that failed for good again from its first attempt (after the cause is mended: an
/// evaluator configured, a store reachable again); the admin's action is logged.
pub async fn retry(db: &Database, admin: &crate::accounts::User, id: &str) -> Result<Failure> {
    admin.require_admin("retry failed jobs")?;
    let mut tx = db.pool().begin().await?;
    let Some(job) = db::jobs::requeue_failed(&mut *tx, id, db.now().await?).await? else {
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
