//! The platform's shared handles, built once at start and passed to every request and worker.

use std::sync::Arc;

use crate::datasets::{Limits, UploadLimits};
use crate::db::Database;
use crate::secret::Secret;
use crate::storage::ObjectStore;

#[derive(Clone, Debug)]
pub struct Platform {
    pub db: Database,
    pub store: Arc<dyn ObjectStore>,
    /// Signs short-lived links and tokens; the same on every replica (see `db::settings`).
    pub signing_key: Secret<Vec<u8>>,
    /// What a dataset must satisfy to be accepted.
    pub dataset_limits: Limits,
    pub upload_limits: UploadLimits,
    /// How long a worker's claim on a job lasts without a heartbeat.
    pub job_lease_ms: crate::clock::Millis,
    /// How offers go out to miners, how often a task is offered again, and the largest submission.
    pub scheduling: crate::tasks::Scheduling,
    /// The miners waiting on a long poll for offers, woken when one arrives.
    pub offer_watch: crate::tasks::OfferWatch,
    /// What evaluates submissions after a deadline; without one, tasks wait in `preevaluation`.
    pub evaluator: Option<crate::evaluation::Evaluator>,
    /// The public leaderboards, computed at most every few seconds.
    pub leaderboards: crate::scoring::Leaderboards,
    /// Where tournament recipes are built and run; without one, the platform runs no tournaments.
    pub trainers: Option<crate::tournaments::Trainers>,
    /// When tournaments open and how long they take entries.
    pub tournament_schedule: crate::tournaments::Schedule,
}

/// The deployment's signing key: created once, stored in the database, shared by every replica.
pub async fn signing_key(db: &Database) -> crate::Result<Secret<Vec<u8>>> {
    use rand::RngCore;
    let mut proposed = [0u8; 32];
    rand::rng().fill_bytes(&mut proposed);
    let stored =
        crate::db::settings::get_or_insert(db.pool(), "signing_key", &hex::encode(proposed))
            .await?;
    let key = hex::decode(stored)
        .map_err(|_| crate::Error::Internal("the stored signing key is not hex".into()))?;
    Ok(Secret::new(key))
}
