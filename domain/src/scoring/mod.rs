//! Scoring a task's submissions (DESIGN.md step 8, the Gradients rules) and rolling the scores up into
//! the weights published in the audit export.
//!
//! Per task: the valid submission with the lowest held-out loss gets +3, the other valid ones 0; a
//! submission whose evaluation failed gets −1, and so does a miner who accepted the offer and submitted
//! nothing, and a duplicate (an artifact holding the same files, names and bytes, as one received
//! earlier, whatever its tar metadata: the earliest keeps its place). With more than 8 valid
//! submissions the bottom quarter (rounded down) gets −1. Every score carries its reason.

pub mod audit;
pub mod leaderboard;
pub mod weights;

pub use leaderboard::{BoardPage, BoardQuery, Leaderboards, Sort, Standing};

use serde::{Deserialize, Serialize};

use crate::clock::Millis;
use crate::db::{self, Database, scores::ScoreRow};
use crate::error::{Error, Result};

/// How a submission's evaluation ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Evaluation {
    /// The held-out metric: lower is better (a loss).
    Loss(f64),
    /// Evaluation failed after its last attempt, for this reason.
    Failed(String),
}

/// One miner's submission to the task, as scoring sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub miner: String,
    /// The digest of the artifact's files (`evaluation::content_digest`), by which duplicates are
    /// found; none when there is no readable artifact.
    pub content_digest: Option<String>,
    pub received_at: Millis,
    pub evaluation: Evaluation,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Score {
    pub miner: String,
    pub points: i64,
    /// Place among the valid submissions (1 is the winner); none for failures and duplicates.
    pub rank: Option<u32>,
    pub reason: String,
}

/// Points for the winner, and for a failure, a duplicate or the bottom quarter.
pub const WIN: i64 = 3;
pub const PENALTY: i64 = -1;
/// Above this many valid submissions, the bottom quarter is penalised.
pub const BOTTOM_QUARTER_ABOVE: usize = 8;

/// Scores every entry of one task, in the order given.
pub fn score_task(entries: &[Entry]) -> Vec<Score> {
    // The earliest receipt of each artifact keeps its place; ties by miner, so the result never depends
    // on the order of the input.
    let mut by_time: Vec<&Entry> = entries.iter().collect();
    by_time.sort_by(|a, b| (a.received_at, &a.miner).cmp(&(b.received_at, &b.miner)));
    let mut first_holder: std::collections::HashMap<&str, &Entry> = Default::default();
    let mut duplicate_of: std::collections::HashMap<&str, &Entry> = Default::default();
    for entry in &by_time {
        let Some(digest) = entry.content_digest.as_deref() else {
            continue;
        };
        match first_holder.get(digest) {
            Some(original) => {
                duplicate_of.insert(entry.miner.as_str(), original);
            }
            None => {
                first_holder.insert(digest, entry);
            }
        }
    }
    // Valid entries ranked by loss, earlier receipt first on a tie.
    let mut valid: Vec<(&Entry, f64)> = by_time
        .iter()
        .filter(|e| !duplicate_of.contains_key(e.miner.as_str()))
        .filter_map(|e| match e.evaluation {
            Evaluation::Loss(loss) if loss.is_finite() => Some((*e, loss)),
            _ => None,
        })
        .collect();
    valid.sort_by(|a, b| a.1.total_cmp(&b.1));
    let n = valid.len();
    let penalised_from = if n > BOTTOM_QUARTER_ABOVE {
        n - n / 4
    } else {
        n
    };
    let place = |miner: &str| valid.iter().position(|(e, _)| e.miner == miner);

    entries
        .iter()
        .map(|entry| {
            let miner = entry.miner.clone();
            if let Some(original) = duplicate_of.get(entry.miner.as_str()) {
                return Score {
                    miner,
                    points: PENALTY,
                    rank: None,
                    reason: format!(
                        "duplicate: an artifact with the same files was received earlier, {} ms before this one",
                        entry.received_at - original.received_at
                    ),
                };
            }
            let Some(i) = place(&entry.miner) else {
                let why = match &entry.evaluation {
                    Evaluation::Failed(why) => why.clone(),
                    Evaluation::Loss(loss) => format!("the metric {loss} is not a number"),
                };
                return Score {
                    miner,
                    points: PENALTY,
                    rank: None,
                    reason: format!("evaluation failed: {why}"),
                };
            };
            let loss = valid[i].1;
            let rank = i as u32 + 1;
            let (points, reason) = if i == 0 {
                (WIN, format!("first of {n}: the lowest held-out loss, {loss:.4}"))
            } else if i >= penalised_from {
                (
                    PENALTY,
                    format!("{rank} of {n}, held-out loss {loss:.4}: in the bottom quarter of more than {BOTTOM_QUARTER_ABOVE} valid submissions"),
                )
            } else {
                (0, format!("{rank} of {n}, held-out loss {loss:.4}"))
            };
            Score {
                miner,
                points,
                rank: Some(rank),
                reason,
            }
        })
        .collect()
}

/// Scores task `task_id` from its entries (`Entry::miner` is the miner's id) and records the scores;
/// a task scored before keeps its first scores, so this is safe to run twice.
pub async fn record(
    db: &Database,
    task_id: &str,
    entries: &[Entry],
    now: Millis,
) -> Result<Vec<Score>> {
    let scores = score_task(entries);
    let mut tx = db.pool().begin().await?;
    record_in(&mut tx, task_id, &scores, now).await?;
    tx.commit().await?;
    Ok(scores)
}

/// Records task `task_id`'s `scores` inside the caller's transaction (the one that ends the task), so
/// that scores exist exactly when the task ended scored. A miner scored before keeps its first score.
pub async fn record_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    task_id: &str,
    scores: &[Score],
    now: Millis,
) -> Result<()> {
    for score in scores {
        let row = ScoreRow {
            id: uuid::Uuid::now_v7().to_string(),
            task_id: task_id.to_string(),
            miner_id: score.miner.clone(),
            points: score.points,
            rank: score.rank.map(i64::from),
            reason: score.reason.clone(),
            scored_at: now,
        };
        db::scores::insert(&mut **tx, &row).await?;
    }
    Ok(())
}

/// A miner's public profile: its points over each window and its latest scores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub hotkey: String,
    /// (window, points) for 1d, 3d and 7d.
    pub totals: Vec<(String, i64)>,
    /// Newest first, at most 50.
    pub scores: Vec<audit::AuditScore>,
}

/// The public profile of the miner with `hotkey`.
pub async fn profile(db: &Database, hotkey: &str, as_of: Millis) -> Result<Profile> {
    let miner = db::miners::by_hotkey(db.pool(), hotkey)
        .await?
        .ok_or(Error::NotFound("miner"))?;
    let recent = db::scores::between(db.pool(), as_of - weights::WINDOWS[2].1, as_of).await?;
    let points: Vec<weights::Points> = recent
        .iter()
        .filter(|s| s.hotkey == miner.hotkey)
        .map(|s| weights::Points {
            miner: s.hotkey.clone(),
            points: s.points,
            scored_at: s.scored_at,
        })
        .collect();
    let totals = weights::WINDOWS
        .iter()
        .map(|(name, ms, _)| {
            let total = weights::totals(&points, as_of, *ms)
                .get(&miner.hotkey)
                .copied()
                .unwrap_or(0);
            (name.to_string(), total)
        })
        .collect();
    let scores = db::scores::for_miner(db.pool(), &miner.id, 50)
        .await?
        .into_iter()
        .map(audit::AuditScore::from)
        .collect();
    Ok(Profile {
        hotkey: miner.hotkey,
        totals,
        scores,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(miner: &str, digest: &str, at: Millis, evaluation: Evaluation) -> Entry {
        Entry {
            miner: miner.into(),
            content_digest: Some(digest.into()),
            received_at: at,
            evaluation,
        }
    }

    #[test]
    fn the_lowest_loss_wins_and_the_rest_score_nothing() {
        let scores = score_task(&[
            entry("a", "1", 10, Evaluation::Loss(2.5)),
            entry("b", "2", 20, Evaluation::Loss(1.5)),
            entry("c", "3", 30, Evaluation::Loss(3.0)),
        ]);
        let points: Vec<i64> = scores.iter().map(|s| s.points).collect();
        assert_eq!(points, [0, 3, 0]);
        assert_eq!(scores[1].rank, Some(1));
        assert!(
            scores[1].reason.contains("lowest held-out loss, 1.5000"),
            "{}",
            scores[1].reason
        );
        assert_eq!(scores[2].rank, Some(3));
    }

    #[test]
    fn failures_and_later_duplicates_lose_a_point_and_the_earliest_copy_keeps_its_place() {
        let scores = score_task(&[
            entry("late", "same", 50, Evaluation::Loss(1.0)),
            entry("early", "same", 10, Evaluation::Loss(1.0)),
            entry(
                "broken",
                "x",
                20,
                Evaluation::Failed("the artifact is not a tar".into()),
            ),
            entry("other", "y", 30, Evaluation::Loss(2.0)),
        ]);
        assert_eq!(scores[0].points, -1);
        assert!(
            scores[0].reason.contains("received earlier, 40 ms before"),
            "{}",
            scores[0].reason
        );
        assert_eq!((scores[1].points, scores[1].rank), (3, Some(1)));
        assert_eq!(scores[2].points, -1);
        assert!(scores[2].reason.contains("not a tar"));
        assert_eq!((scores[3].points, scores[3].rank), (0, Some(2)));
    }

    #[test]
    fn above_eight_valid_the_bottom_quarter_is_penalised() {
        let nine: Vec<Entry> = (0..9)
            .map(|i| {
                entry(
                    &format!("m{i}"),
                    &format!("h{i}"),
                    i,
                    Evaluation::Loss(i as f64),
                )
            })
            .collect();
        let points: Vec<i64> = score_task(&nine).iter().map(|s| s.points).collect();
        // 9 valid: the last 9 / 4 = 2 lose a point.
        assert_eq!(points, [3, 0, 0, 0, 0, 0, 0, -1, -1]);
        let eight = &nine[..8];
        let points: Vec<i64> = score_task(eight).iter().map(|s| s.points).collect();
        assert_eq!(
            points,
            [3, 0, 0, 0, 0, 0, 0, 0],
            "8 valid: nobody is penalised"
        );
    }

    #[test]
    fn miners_with_nothing_to_compare_are_never_each_others_duplicates() {
        let nothing = |miner: &str| Entry {
            miner: miner.into(),
            content_digest: None,
            received_at: 100,
            evaluation: Evaluation::Failed("accepted the offer but submitted no model".into()),
        };
        let scores = score_task(&[
            nothing("a"),
            nothing("b"),
            entry("c", "1", 5, Evaluation::Loss(1.0)),
        ]);
        assert_eq!(
            (scores[0].points, scores[1].points, scores[2].points),
            (-1, -1, 3)
        );
        assert!(
            scores[0].reason.contains("submitted no model"),
            "{}",
            scores[0].reason
        );
        assert!(scores.iter().all(|s| !s.reason.contains("duplicate")));
    }

    #[test]
    fn a_tie_goes_to_the_earlier_receipt_whatever_the_input_order() {
        let a = entry("a", "1", 20, Evaluation::Loss(1.0));
        let b = entry("b", "2", 10, Evaluation::Loss(1.0));
        let forwards = score_task(&[a.clone(), b.clone()]);
        let backwards = score_task(&[b, a]);
        assert_eq!(forwards[1].points, 3);
        assert_eq!(backwards[0].points, 3);
    }
}
