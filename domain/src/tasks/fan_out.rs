//! Fan-out: a task looking for miners offers itself to a pool drawn from the eligible miners; the
//! window starts when the pool is full or the offers close with enough acceptances; with too few, the
//! task is delayed and offered again, and after the last retry it fails. Driven by `advance_task`
//! jobs due at the moment something may happen, each safe to run twice.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::{Any, Transaction};

use super::state::TaskState;
use super::task::{RunBy, Task, get_any, transition_in};
use crate::clock::{Millis, now_ms};
use crate::db::{self, offers::OfferRow};
use crate::error::{Error, Result};
use crate::miners::Miner;
use crate::queue::{self, Job, Queue};
use crate::states::OfferState;

pub use super::scheduling::{PoolSize, Scheduling};

/// What moving tasks through their states needs: the database, the store that holds their data, how
/// offers go out and windows last, the miners waiting for offers, and the leaderboards that rank them.
#[derive(Clone, Debug)]
pub struct Dispatch {
    pub db: crate::db::Database,
    pub store: std::sync::Arc<dyn crate::storage::ObjectStore>,
    pub scheduling: Scheduling,
    pub offer_watch: super::offer_watch::OfferWatch,
    pub leaderboards: crate::scoring::Leaderboards,
}

/// An open offer as its miner sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Offer {
    pub id: String,
    pub task_id: String,
    pub task_type: crate::datasets::TaskType,
    pub model_id: String,
    pub hours_to_complete: u64,
    /// When the offer was made, and until when it may be accepted.
    pub offered_at: Millis,
    pub expires_at: Millis,
}

/// Queues the task's next step for `at`, in the caller's transaction.
pub(super) async fn schedule(tx: &mut Transaction<'_, Any>, id: &str, at: Millis) -> Result<()> {
    let job = AdvanceTask {
        task_id: id.to_string(),
    };
    queue::enqueue_at(&mut **tx, &job, at, now_ms()).await?;
    Ok(())
}

/// The job that moves a task on: offers, windows, deadlines.
#[derive(Debug, Serialize, Deserialize)]
pub struct AdvanceTask {
    pub task_id: String,
}

impl Job for AdvanceTask {
    const NAME: &'static str = "advance_task";
    const QUEUE: Queue = Queue::Fast;
    type Context = Dispatch;

    fn subject(&self) -> &str {
        &self.task_id
    }

    async fn run(self, dispatch: Dispatch) -> Result<()> {
        advance(&dispatch, &self.task_id).await
    }
}

/// Does whatever is due for task `id`: send this round's offers, close the round, or offer again after
/// a delay. What is due is read on the database's clock, the one its job was claimed by: with the
/// server's, a job claimed the moment it fell due could find the offers not closed yet and end doing
/// nothing, leaving the task where it was.
pub async fn advance(dispatch: &Dispatch, id: &str) -> Result<()> {
    let Some(task) = get_any(&dispatch.db, id).await? else {
        return Ok(());
    };
    let now = dispatch.db.now().await?;
    match task.state {
        TaskState::LookingForNodes => {
            let round = task.round as i64;
            let offered = db::offers::count_for_round(dispatch.db.pool(), id, round, None).await?;
            match task.offers_close_at {
                None if offered == 0 => send_offers(dispatch, &task).await,
                Some(close) if now >= close => close_round(dispatch, &task).await,
                _ => Ok(()),
            }
        }
        TaskState::Training => match task.deadline_at {
            Some(deadline) if now > deadline => close_window(dispatch, &task).await,
            _ => Ok(()),
        },
        TaskState::Delayed => {
            let mut tx = dispatch.db.pool().begin().await?;
            let reason = format!(
                "offering the task again (retry {} of {})",
                task.round, dispatch.scheduling.max_retries
            );
            if transition_in(
                &mut tx,
                id,
                TaskState::Delayed,
                TaskState::LookingForNodes,
                &reason,
                now,
            )
            .await?
            {
                schedule(&mut tx, id, now).await?;
            }
            tx.commit().await?;
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Who may be drawn into a pool.
#[derive(Debug, Default)]
pub struct Candidates {
    /// Miners never scored, as a uniform random sample in random order (at least as many as the pool
    /// takes, where there are that many).
    pub new: Vec<String>,
    /// How many miners were never scored: the sample's population.
    pub new_count: u64,
    /// Miners with positive points over the last 7 days, with those points.
    pub scored: Vec<(String, i64)>,
}

/// Draws up to `n` miners as Gradients does: those never scored, and those with positive points over
/// the last 7 days, at random, a new miner weighing 1 and a scored one 1 + its points. (A miner scored
/// but not positive lately is not a candidate.)
///
/// Weighted sampling without replacement (Efraimidis and Spirakis): every candidate gets the key
/// `u^(1/weight)` for a uniform `u`, and the `n` largest keys win. New miners all weigh 1, so which of
/// them hold their largest keys is a uniform sample (the database draws it), and the keys themselves
/// are the largest order statistics of `new_count` uniforms, drawn here one after another. Keys are
/// kept as logarithms.
pub fn draw(candidates: Candidates, n: usize, rng: &mut impl rand::Rng) -> Vec<String> {
    // In (0, 1]: its logarithm is finite.
    let mut uniform = || 1.0 - rng.random::<f64>();
    let mut keyed: Vec<(f64, String)> =
        Vec::with_capacity(candidates.new.len() + candidates.scored.len());
    let mut largest = 0.0;
    for (i, id) in candidates.new.into_iter().take(n).enumerate() {
        // The largest of m uniforms is u^(1/m); below it, the other m - 1 are uniform again.
        let m = candidates.new_count.saturating_sub(i as u64).max(1);
        largest += uniform().ln() / m as f64;
        keyed.push((largest, id));
    }
    for (id, points) in candidates.scored {
        keyed.push((uniform().ln() / (1.0 + points as f64), id));
    }
    keyed.sort_by(|a, b| b.0.total_cmp(&a.0));
    keyed.into_iter().take(n).map(|(_, id)| id).collect()
}

/// Draws the pool (`draw`) and sends its offers.
async fn send_offers(dispatch: &Dispatch, task: &Task) -> Result<()> {
    let model = crate::catalogue::catalogue(&dispatch.db)
        .await?
        .models
        .into_iter()
        .find(|m| m.id == task.model_id);
    let parameters = model.map_or(i64::MAX, |m| {
        i64::try_from(m.parameters).unwrap_or(i64::MAX)
    });
    let pool = task.pool_max as usize;
    let task_type = task.task_type.as_str();
    let new = db::offers::sample_new_miners(
        dispatch.db.pool(),
        &task.id,
        task_type,
        parameters,
        pool as i64,
    )
    .await?;
    let since = dispatch.db.now().await? - crate::scoring::weights::WINDOWS[2].1;
    let candidates = Candidates {
        new_count: new.first().map_or(0, |(_, count)| *count as u64),
        new: new.into_iter().map(|(id, _)| id).collect(),
        scored: db::offers::eligible_with_points(
            dispatch.db.pool(),
            &task.id,
            task_type,
            parameters,
            since,
        )
        .await?,
    };
    let eligible = draw(candidates, pool, &mut rand::rng());

    let now = dispatch.db.now().await?;
    // With no miner to offer to, the round closes at once rather than waiting for nobody.
    let close = if eligible.is_empty() {
        now
    } else {
        now + dispatch.scheduling.offer_ttl_ms
    };
    let mut tx = dispatch.db.pool().begin().await?;
    // Whoever records the closing time first sends the round; anyone else stops here.
    if !db::tasks::claim_round(&mut *tx, &task.id, task.round as i64, close).await? {
        return Ok(());
    }
    for miner in &eligible {
        let offer = OfferRow {
            id: uuid::Uuid::now_v7().to_string(),
            task_id: task.id.clone(),
            miner_id: miner.clone(),
            round: task.round as i64,
            state: OfferState::Offered,
            expires_at: close,
            created_at: now,
            decided_at: None,
        };
        db::offers::insert(&mut *tx, &offer).await?;
    }
    schedule(&mut tx, &task.id, close).await?;
    tx.commit().await?;
    dispatch
        .offer_watch
        .ring(eligible.iter().map(|miner| miner.as_str()));
    Ok(())
}

/// The round's offers have closed: start the window with enough miners, else delay or fail.
async fn close_round(dispatch: &Dispatch, task: &Task) -> Result<()> {
    let round = task.round as i64;
    let accepted =
        db::offers::count_for_round(dispatch.db.pool(), &task.id, round, Some("accepted")).await?
            as u64;
    // The clock is read before the transaction holds a connection, not on a second one beside it.
    let now = dispatch.db.now().await?;
    let mut tx = dispatch.db.pool().begin().await?;
    let needed = dispatch.scheduling.min_accepted;
    if accepted >= needed {
        start_window(&mut tx, task, accepted, dispatch.scheduling.hour_ms, now).await?;
    } else if round >= dispatch.scheduling.max_retries {
        let reason = format!(
            "only {accepted} of the {needed} miners needed accepted, in {} rounds of offers; \
             create the task again later or with a smaller model",
            round + 1
        );
        transition_in(
            &mut tx,
            &task.id,
            TaskState::LookingForNodes,
            TaskState::FailureFindingNodes,
            &reason,
            now,
        )
        .await?;
    } else {
        let again = now + dispatch.scheduling.retry_delay_ms;
        let reason = format!(
            "only {accepted} of the {needed} miners needed accepted; offering again in {}",
            in_words(dispatch.scheduling.retry_delay_ms)
        );
        if transition_in(
            &mut tx,
            &task.id,
            TaskState::LookingForNodes,
            TaskState::Delayed,
            &reason,
            now,
        )
        .await?
        {
            db::tasks::next_round(&mut *tx, &task.id).await?;
            schedule(&mut tx, &task.id, again).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// A delay for people: "15 minutes", "5 seconds".
fn in_words(ms: Millis) -> String {
    match ms {
        ms if ms >= 120_000 => format!("{} minutes", ms / 60_000),
        ms if ms >= 60_000 => "a minute".to_string(),
        ms if ms <= 1_000 => "a second".to_string(),
        ms => format!("{} seconds", (ms + 999) / 1000),
    }
}

/// Moves the task through `ready` into `training`, with its window from now.
async fn start_window(
    tx: &mut Transaction<'_, Any>,
    task: &Task,
    accepted: u64,
    hour_ms: Millis,
    now: Millis,
) -> Result<()> {
    let reason = format!("{accepted} miners accepted; the pool is set");
    if transition_in(
        tx,
        &task.id,
        TaskState::LookingForNodes,
        TaskState::Ready,
        &reason,
        now,
    )
    .await?
    {
        open_training(tx, task, hour_ms, now).await?;
    }
    Ok(())
}

/// Moves a `ready` task into `training`, with its window from now and the job that closes it just
/// after the deadline; false when the task was not ready.
pub(crate) async fn open_training(
    tx: &mut Transaction<'_, Any>,
    task: &Task,
    hour_ms: Millis,
    now: Millis,
) -> Result<bool> {
    let deadline = now + task.hours_to_complete as Millis * hour_ms;
    let reason = format!(
        "the window is open: {} hours, until the deadline",
        task.hours_to_complete
    );
    if !transition_in(
        tx,
        &task.id,
        TaskState::Ready,
        TaskState::Training,
        &reason,
        now,
    )
    .await?
    {
        return Ok(false);
    }
    db::tasks::set_window(&mut **tx, &task.id, now, deadline).await?;
    // Just after the deadline, so that a submission at the deadline itself still counts.
    schedule(tx, &task.id, deadline + 1).await?;
    Ok(true)
}

/// The deadline has passed: the submissions go to evaluation; with none, the task fails, and every
/// miner who accepted a place in its pool and submitted nothing loses a point.
async fn close_window(dispatch: &Dispatch, task: &Task) -> Result<()> {
    let submissions = db::submissions::for_task(dispatch.db.pool(), &task.id).await?;
    let now = dispatch.db.now().await?;
    let mut tx = dispatch.db.pool().begin().await?;
    let reason = format!("the deadline passed with {} submissions", submissions.len());
    let failure = match task.run_by {
        _ if !submissions.is_empty() => None,
        RunBy::Miners => {
            Some("no miner submitted a model before the deadline; create the task again")
        }
        RunBy::Champion => Some(
            "the champion's recipe produced no model before the deadline; create the task again",
        ),
    };
    let ended = end_training(&mut tx, &task.id, &reason, failure, now).await?;
    let penalised = ended && failure.is_some() && task.run_by == RunBy::Miners;
    if penalised {
        let at = task.deadline_at.unwrap_or(now);
        let no_shows = crate::evaluation::no_shows(&mut *tx, task, &submissions, at).await?;
        let scores = crate::scoring::score_task(&no_shows);
        crate::scoring::record_in(&mut tx, &task.id, &scores, now).await?;
    }
    tx.commit().await?;
    if penalised {
        dispatch.leaderboards.invalidate();
    }
    Ok(())
}

/// Ends a task's training (`reason` says how): its submissions go to evaluation or, given why no
/// model came (`failure`), the task fails. False when the task was no longer training.
pub(crate) async fn end_training(
    tx: &mut Transaction<'_, Any>,
    id: &str,
    reason: &str,
    failure: Option<&str>,
    now: Millis,
) -> Result<bool> {
    if !transition_in(
        tx,
        id,
        TaskState::Training,
        TaskState::Preevaluation,
        reason,
        now,
    )
    .await?
    {
        return Ok(false);
    }
    match failure {
        None => {
            let job = crate::evaluation::EvaluateTask {
                task_id: id.to_string(),
            };
            queue::enqueue(&mut **tx, &job, now).await?;
        }
        Some(why) => {
            let failed = TaskState::Failure;
            transition_in(tx, id, TaskState::Preevaluation, failed, why, now).await?;
        }
    }
    Ok(true)
}

/// The miner's open offers; waits up to `wait` for one when there is none, woken by the offer watch.
pub async fn open_offers(dispatch: &Dispatch, miner: &Miner, wait: Duration) -> Result<Vec<Offer>> {
    let until = tokio::time::Instant::now() + wait;
    let waiter = dispatch.offer_watch.wait_for(&miner.id);
    loop {
        let rung = waiter.rung();
        tokio::pin!(rung);
        rung.as_mut().enable();
        let rows =
            db::offers::open_for_miner(dispatch.db.pool(), &miner.id, dispatch.db.now().await?)
                .await?;
        if !rows.is_empty() || tokio::time::Instant::now() >= until {
            let mut offers = Vec::with_capacity(rows.len());
            for row in rows {
                if let Some(task) = get_any(&dispatch.db, &row.task_id).await? {
                    offers.push(Offer::new(row, task));
                }
            }
            return Ok(offers);
        }
        tokio::select! {
            () = rung => {}
            () = tokio::time::sleep_until(until) => {}
        }
    }
}

impl Offer {
    fn new(row: OfferRow, task: Task) -> Offer {
        Offer {
            id: row.id,
            task_id: task.id,
            task_type: task.task_type,
            model_id: task.model_id,
            hours_to_complete: task.hours_to_complete,
            offered_at: row.created_at,
            expires_at: row.expires_at,
        }
    }
}

/// The miner accepts (`true`) or declines its offer. The window starts with the decision that fills
/// the pool, or the last answer of the offered miners once enough have accepted.
pub async fn decide(
    dispatch: &Dispatch,
    miner: &Miner,
    offer_id: &str,
    accept: bool,
) -> Result<Offer> {
    let offer = db::offers::by_id(dispatch.db.pool(), offer_id)
        .await?
        .filter(|offer| offer.miner_id == miner.id)
        .ok_or(Error::NotFound("offer"))?;
    let task = get_any(&dispatch.db, &offer.task_id)
        .await?
        .ok_or(Error::NotFound("offer"))?;
    let closed = || Error::Conflict {
        field: None,
        message: "this offer is closed: it expired, was decided, or the task moved on".into(),
    };
    if task.state != TaskState::LookingForNodes || task.round as i64 != offer.round {
        return Err(closed());
    }
    let now = dispatch.db.now().await?;
    let mut tx = dispatch.db.pool().begin().await?;
    let state = if accept {
        OfferState::Accepted
    } else {
        OfferState::Declined
    };
    if !db::offers::decide(&mut *tx, offer_id, state, now).await? {
        return Err(closed());
    }
    let accepted = db::offers::count_for_round(&mut *tx, &task.id, offer.round, Some("accepted"))
        .await? as u64;
    let unanswered =
        db::offers::count_for_round(&mut *tx, &task.id, offer.round, Some("offered")).await?;
    let enough = accepted >= dispatch.scheduling.min_accepted;
    if accepted >= task.pool_max || (unanswered == 0 && enough) {
        start_window(&mut tx, &task, accepted, dispatch.scheduling.hour_ms, now).await?;
    }
    tx.commit().await?;
    Ok(Offer::new(offer, task))
}

#[cfg(test)]
mod tests {
    use super::{Candidates, draw, in_words};
    use rand::SeedableRng;

    /// The candidates as the database gives them: `n` of `population` new miners at random, and the
    /// scored ones.
    fn candidates(
        population: usize,
        n: usize,
        scored: &[(&str, i64)],
        rng: &mut impl rand::Rng,
    ) -> Candidates {
        use rand::seq::IndexedRandom;
        let all: Vec<String> = (0..population).map(|i| format!("new-{i}")).collect();
        Candidates {
            new: all.choose_multiple(rng, n).cloned().collect(),
            new_count: population as u64,
            scored: scored.iter().map(|(id, p)| (id.to_string(), *p)).collect(),
        }
    }

    #[test]
    fn the_draw_weighs_a_recent_winner_as_one_plus_its_points() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut winner = 0;
        for _ in 0..2_000 {
            let drawn = draw(candidates(1, 1, &[("winner", 9)], &mut rng), 1, &mut rng);
            winner += u32::from(drawn == ["winner"]);
        }
        // Weights 10 and 1: the winner 10 times in 11, about 1,818 of 2,000.
        assert!((1_700..1_930).contains(&winner), "{winner}");

        let mut winner = 0;
        for _ in 0..20_000 {
            let drawn = draw(
                candidates(1_000, 1, &[("winner", 9)], &mut rng),
                1,
                &mut rng,
            );
            winner += u32::from(drawn == ["winner"]);
        }
        // Against a thousand new miners: 10 in 1,010, about 198 of 20,000.
        assert!((140..260).contains(&winner), "{winner}");
    }

    #[test]
    fn drawing_from_a_sample_of_new_miners_matches_drawing_from_them_all() {
        use rand::seq::IndexedRandom;
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let trials = 20_000;
        let (mut sampled, mut whole) = (0, 0);
        let everyone: Vec<(String, f64)> = (0..20)
            .map(|i| (format!("new-{i}"), 1.0))
            .chain([("scored".to_string(), 5.0)])
            .collect();
        for _ in 0..trials {
            let drawn = draw(candidates(20, 5, &[("scored", 4)], &mut rng), 5, &mut rng);
            assert_eq!(drawn.len(), 5);
            sampled += u32::from(drawn.iter().any(|id| id == "scored"));
            let reference = everyone
                .choose_multiple_weighted(&mut rng, 5, |(_, weight)| *weight)
                .unwrap();
            whole += u32::from(reference.into_iter().any(|(id, _)| id == "scored"));
        }
        let (sampled, whole) = (sampled as f64 / trials as f64, whole as f64 / trials as f64);
        assert!(
            (sampled - whole).abs() < 0.02,
            "the scored miner is drawn {sampled:.3} of the time, against {whole:.3}"
        );
    }

    #[test]
    fn a_pool_larger_than_the_candidates_takes_them_all() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let mut drawn = draw(candidates(1, 15, &[("winner", 2)], &mut rng), 15, &mut rng);
        drawn.sort();
        assert_eq!(drawn, ["new-0", "winner"]);
        assert!(draw(Candidates::default(), 15, &mut rng).is_empty());
    }

    #[test]
    fn delays_read_in_minutes_or_seconds() {
        assert_eq!(in_words(15 * 60_000), "15 minutes");
        assert_eq!(in_words(60_000), "a minute");
        assert_eq!(in_words(5_000), "5 seconds");
        assert_eq!(in_words(200), "a second");
    }
}
