//! How a task's offers go out: the pool's size, how long an offer stands, how often a task is offered
//! again, and how long an hour of its window lasts.

use crate::clock::Millis;

/// How offers go out (Gradients: offered again every 15 minutes, up to 6 times).
#[derive(Clone, Copy, Debug)]
pub struct Scheduling {
    /// How long a miner has to accept an offer; the round closes then.
    pub offer_ttl_ms: Millis,
    pub retry_delay_ms: Millis,
    /// Rounds after the first before the task fails for want of miners.
    pub max_retries: i64,
    /// How long one hour of a task's window lasts: 3,600,000 ms, shortened only for tests and demos.
    pub hour_ms: Millis,
    /// How many miners a text task is offered to (Gradients: 8–15), and an image task (15–25); every
    /// eligible miner when there are fewer.
    pub text_pool: PoolSize,
    pub image_pool: PoolSize,
    /// How many acceptances a window needs (Gradients' `MINIMUM_MINER_POOL`: 1). The window opens as
    /// soon as the pool's maximum has accepted or every offered miner has answered, or when the offers
    /// expire, provided this many accepted; otherwise the task is delayed and offered again.
    pub min_accepted: u64,
    /// The largest model artifact a miner may submit, in bytes.
    pub max_submission_bytes: u64,
}

/// A pool's size: how many miners a task is offered to, at least `min` where there are that many
/// eligible, at most `max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolSize {
    pub min: u64,
    pub max: u64,
}

impl Scheduling {
    pub fn pool(&self, task_type: crate::datasets::TaskType) -> PoolSize {
        match task_type {
            crate::datasets::TaskType::Image => self.image_pool,
            _ => self.text_pool,
        }
    }
}

impl Default for Scheduling {
    fn default() -> Self {
        Scheduling {
            offer_ttl_ms: 10 * 60_000,
            retry_delay_ms: 15 * 60_000,
            max_retries: 6,
            hour_ms: 3_600_000,
            text_pool: PoolSize { min: 8, max: 15 },
            image_pool: PoolSize { min: 15, max: 25 },
            min_accepted: 1,
            max_submission_bytes: 50 * 1024 * 1024 * 1024,
        }
    }
}
