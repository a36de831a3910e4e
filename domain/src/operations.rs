//! What an operator watches: tasks, datasets, offers and webhook deliveries by state, jobs by kind and
//! state, and recipe runs (from the tables every replica shares, so each replica reports the same);
//! the miners waiting for offers and the jobs run here (this process only).

use std::collections::BTreeMap;

use crate::Platform;
use crate::db::{self, operations::Counted};
use crate::error::Result;
use crate::queue::Timing;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    pub tasks: Vec<(String, i64)>,
    pub datasets: Vec<(String, i64)>,
    /// `(kind, state, count)`.
    pub jobs: Vec<(String, String, i64)>,
    /// By outcome: `offered` (still open), `accepted`, `declined`, `expired`.
    pub offers: Vec<(String, i64)>,
    pub deliveries: Vec<(String, i64)>,
    /// Bytes read by dataset validations, over every dataset.
    pub validated_bytes: i64,
    /// Recipe runs recorded, and their seconds in all.
    pub recipe_runs: (i64, f64),
    /// Miners holding a long poll for offers on this server.
    pub miners_waiting: usize,
    /// The jobs this process ran, by kind.
    pub job_timings: BTreeMap<String, Timing>,
}

pub async fn snapshot(platform: &Platform) -> Result<Snapshot> {
    let pool = platform.db.pool();
    let now = platform.db.now().await?;
    Ok(Snapshot {
        tasks: db::operations::by_state(pool, Counted::Tasks).await?,
        datasets: db::operations::by_state(pool, Counted::Datasets).await?,
        jobs: db::operations::jobs(pool).await?,
        offers: db::operations::offers(pool, now).await?,
        deliveries: db::operations::by_state(pool, Counted::Deliveries).await?,
        validated_bytes: db::operations::validated_bytes(pool).await?,
        recipe_runs: db::operations::recipe_runs(pool).await?,
        miners_waiting: platform.offer_watch.waiting(),
        job_timings: crate::queue::timings(),
    })
}
