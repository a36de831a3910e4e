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
    pub scheduling: crate::tasks::scheduling::Scheduling,
    /// The miners waiting on a long poll for offers, woken when one arrives.
    pub offer_watch: crate::tasks::offer_watch::OfferWatch,
    /// What evaluates submissions after a deadline; without one, tasks wait in `preevaluation`.
    pub evaluator: Option<crate::sandbox::Evaluator>,
    /// The public leaderboards, computed at most every few seconds.
    pub leaderboards: crate::scoring::Leaderboards,
    /// Where tournament recipes are built and run; without one, the platform runs no tournaments.
    pub trainers: Option<crate::tournaments::Trainers>,
    /// When tournaments open and how long they take entries.
    pub tournament_schedule: crate::tournaments::Schedule,
    /// Where webhooks may be delivered: public addresses only, unless tests or development allow more.
    pub webhook_reach: crate::webhooks::reach::Reach,
    /// Seals the secrets kept in the database that the platform must read back (webhook secrets).
    pub vault: crate::vault::Vault,
    /// This deployment's SS58 identity: a miner request signed for anyone else
    /// (`Epistula-Signed-For`) is refused.
    pub identity: crate::miners::Hotkey,
    /// Each queue's workers on this server, or why a queue has none.
    pub queue_workers: Vec<crate::queue::Workers>,
}

impl Platform {
    /// What validating datasets needs.
    pub fn ingest(&self) -> crate::datasets::ingest::Ingest {
        crate::datasets::ingest::Ingest {
            db: self.db.clone(),
            store: self.store.clone(),
            limits: self.dataset_limits,
        }
    }

    /// What moving tasks through offers and windows needs.
    pub fn dispatch(&self) -> crate::tasks::Dispatch {
        crate::tasks::Dispatch {
            db: self.db.clone(),
            store: self.store.clone(),
            scheduling: self.scheduling,
            offer_watch: self.offer_watch.clone(),
            leaderboards: self.leaderboards.clone(),
        }
    }

    /// What scoring an evaluated task needs.
    pub fn tally(&self) -> crate::evaluation::Tally {
        crate::evaluation::Tally {
            db: self.db.clone(),
            leaderboards: self.leaderboards.clone(),
        }
    }

    /// What evaluating submissions needs; none without an evaluator.
    pub fn referee(&self) -> Option<crate::evaluation::Referee> {
        Some(crate::evaluation::Referee {
            db: self.db.clone(),
            store: self.store.clone(),
            evaluator: self.evaluator.clone()?,
            leaderboards: self.leaderboards.clone(),
        })
    }

    /// What registering and delivering webhooks needs.
    pub fn deliveries(&self) -> crate::webhooks::Deliveries {
        crate::webhooks::Deliveries {
            db: self.db.clone(),
            reach: self.webhook_reach,
            vault: self.vault.clone(),
        }
    }

    /// What moving tournaments along needs.
    pub fn organiser(&self) -> crate::tournaments::Organiser {
        crate::tournaments::Organiser {
            db: self.db.clone(),
            schedule: self.tournament_schedule,
        }
    }

    /// What building and running recipes needs; none without trainer hosts and an evaluator.
    pub fn arena(&self) -> Option<crate::tournaments::Arena> {
        Some(crate::tournaments::Arena {
            db: self.db.clone(),
            store: self.store.clone(),
            trainers: self.trainers.clone()?,
            evaluator: self.evaluator.clone()?,
            hour_ms: self.scheduling.hour_ms,
        })
    }
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

/// The identity a deployment has when none is configured: an sr25519 public key derived from its
/// signing key, so every replica has the same one and it never changes.
pub fn derived_identity(signing_key: &Secret<Vec<u8>>) -> crate::miners::Hotkey {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(signing_key.expose())
        .expect("HMAC takes any key length");
    mac.update(b"crucible epistula identity");
    let seed: [u8; 32] = mac.finalize().into_bytes().into();
    let keypair = schnorrkel::MiniSecretKey::from_bytes(&seed)
        .expect("32 bytes make a mini secret key")
        .expand_to_keypair(schnorrkel::ExpansionMode::Ed25519);
    crate::miners::Hotkey::from_public_key(keypair.public.to_bytes())
}
