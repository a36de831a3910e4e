//! Wakes the miners waiting on a long poll when an offer for them appears. Offers may be written by
//! any replica, so each process watches the `offers` table with one query per tick however many miners
//! wait; offers this process sends wake their miners at once, without waiting for the tick.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use crate::clock::{Millis, now_ms};
use crate::db::{self, Database};

/// How long after its `created_at` an offer's transaction may still commit; the watch looks this far
/// back on every tick and remembers which offers it has rung for.
const COMMIT_LAG_MS: Millis = 5_000;

/// The waiting miners, by id.
#[derive(Clone, Debug, Default)]
pub struct OfferWatch {
    waiting: Arc<Mutex<HashMap<String, Arc<Notify>>>>,
}

/// A miner's place among the waiting; its bell is forgotten when the last waiter leaves.
#[derive(Debug)]
pub struct Waiter {
    watch: OfferWatch,
    miner_id: String,
    bell: Arc<Notify>,
}

impl Waiter {
    /// Resolves when an offer for the miner may have appeared since this was created. Create it (and
    /// `enable` it) before looking at the offers, so that one arriving in between is not missed.
    pub fn rung(&self) -> tokio::sync::futures::Notified<'_> {
        self.bell.notified()
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        let mut waiting = self.watch.lock();
        // One reference is the map's, one is ours: nobody else waits for this miner.
        if Arc::strong_count(&self.bell) == 2 {
            waiting.remove(&self.miner_id);
        }
    }
}

impl OfferWatch {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Notify>>> {
        self.waiting
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn wait_for(&self, miner_id: &str) -> Waiter {
        let bell = self.lock().entry(miner_id.to_string()).or_default().clone();
        Waiter {
            watch: self.clone(),
            miner_id: miner_id.to_string(),
            bell,
        }
    }

    /// Wakes these miners' waiting long polls, if any.
    pub fn ring<'a>(&self, miner_ids: impl IntoIterator<Item = &'a str>) {
        let waiting = self.lock();
        for id in miner_ids {
            if let Some(bell) = waiting.get(id) {
                bell.notify_waiters();
            }
        }
    }

    /// How many miners are waiting now.
    pub fn waiting(&self) -> usize {
        self.lock().len()
    }

    /// Rings for the offers other processes write, checking every `every`; runs until dropped.
    pub async fn watch(self, db: Database, every: Duration) {
        let mut rung: HashMap<String, Millis> = HashMap::new();
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let since = now_ms() - COMMIT_LAG_MS;
            rung.retain(|_, created_at| *created_at >= since);
            if self.waiting() == 0 {
                continue;
            }
            let fresh = match db::offers::created_since(db.pool(), since).await {
                Ok(fresh) => fresh,
                Err(err) => {
                    tracing::warn!(error = %err, "watching for new offers failed; will retry");
                    continue;
                }
            };
            let new: Vec<_> = fresh
                .into_iter()
                .filter(|offer| !rung.contains_key(&offer.id))
                .collect();
            self.ring(new.iter().map(|offer| offer.miner_id.as_str()));
            rung.extend(new.into_iter().map(|offer| (offer.id, offer.created_at)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::OfferWatch;

    #[tokio::test]
    async fn a_ring_wakes_the_miners_waiter_and_only_theirs() {
        let watch = OfferWatch::default();
        let first = watch.wait_for("m1");
        let other = watch.wait_for("m2");
        let rung = first.rung();
        tokio::pin!(rung);
        rung.as_mut().enable();
        let untouched = other.rung();
        tokio::pin!(untouched);
        untouched.as_mut().enable();
        watch.ring(["m1"]);
        tokio::time::timeout(std::time::Duration::from_secs(1), rung)
            .await
            .expect("the ring wakes m1");
        let waited = tokio::time::timeout(std::time::Duration::from_millis(50), untouched).await;
        assert!(waited.is_err(), "m2 was not rung");
    }

    #[test]
    fn a_miner_is_forgotten_when_its_last_waiter_leaves() {
        let watch = OfferWatch::default();
        let one = watch.wait_for("m1");
        let two = watch.wait_for("m1");
        assert_eq!(watch.waiting(), 1);
        drop(one);
        assert_eq!(watch.waiting(), 1, "a second long poll still waits");
        drop(two);
        assert_eq!(watch.waiting(), 0);
    }
}
