//! Weights: each miner's share of the network's reward, from the points it scored over the last 1, 3
//! and 7 days (after the Gradients legacy roll-up). For each window w, a miner's positive total is
//! `P_w(m) = max(0, Σ points scored within w)`, its share `s_w(m) = ⌊10⁶ · P_w(m) / Σ P_w⌋` (0 when
//! nobody is positive), and its weight `⌊(50 · s_1d + 30 · s_3d + 20 · s_7d) / 100⌋` parts per million.
//! Integer arithmetic throughout, so `crucible audit` recomputes the published weights exactly.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::clock::Millis;

pub const DAY_MS: Millis = 86_400_000;

/// The windows, their length and their part of the weight (percent).
pub const WINDOWS: [(&str, Millis, u64); 3] = [
    ("1d", DAY_MS, 50),
    ("3d", 3 * DAY_MS, 30),
    ("7d", 7 * DAY_MS, 20),
];

/// Points one miner scored on one task, and when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Points {
    pub miner: String,
    pub points: i64,
    pub scored_at: Millis,
}

/// Each miner's total over the `window_ms` before `as_of` (scores at `as_of` itself count).
pub fn totals(points: &[Points], as_of: Millis, window_ms: Millis) -> BTreeMap<String, i64> {
    let mut totals = BTreeMap::new();
    for p in points
        .iter()
        .filter(|p| p.scored_at <= as_of && p.scored_at > as_of - window_ms)
    {
        *totals.entry(p.miner.clone()).or_insert(0) += p.points;
    }
    totals
}

/// Every miner with points in the longest window, and its weight in parts per million.
pub fn weights(points: &[Points], as_of: Millis) -> BTreeMap<String, u64> {
    let mut weights: BTreeMap<String, u64> = BTreeMap::new();
    for (_, window_ms, percent) in WINDOWS {
        let totals = totals(points, as_of, window_ms);
        let positive: u128 = totals.values().map(|t| (*t).max(0) as u128).sum();
        for (miner, total) in totals {
            let share = (total.max(0) as u128 * 1_000_000)
                .checked_div(positive)
                .unwrap_or(0) as u64;
            *weights.entry(miner).or_insert(0) += percent * share;
        }
    }
    for weight in weights.values_mut() {
        *weight /= 100;
    }
    weights
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(miner: &str, points: i64, days_ago: f64, now: Millis) -> Points {
        Points {
            miner: miner.into(),
            points,
            scored_at: now - (days_ago * DAY_MS as f64) as Millis,
        }
    }

    #[test]
    fn recent_points_weigh_more_and_negative_totals_get_nothing() {
        let now = 100 * DAY_MS;
        let points = [
            at("a", 3, 0.5, now),
            at("b", 3, 2.0, now),
            at("c", 3, 5.0, now),
            at("d", -1, 0.1, now),
            at("old", 3, 8.0, now),
        ];
        let w = weights(&points, now);
        // a: all of 1d, a third of 3d and 7d; b: half of 3d, a third of 7d; c: a third of 7d.
        assert_eq!(w["a"], (50 * 1_000_000 + 30 * 500_000 + 20 * 333_333) / 100);
        assert_eq!(w["b"], (30 * 500_000 + 20 * 333_333) / 100);
        assert_eq!(w["c"], (20 * 333_333) / 100);
        assert_eq!(w["d"], 0);
        assert!(
            !w.contains_key("old"),
            "older than 7 days counts for nothing"
        );
        assert!(w.values().sum::<u64>() <= 1_000_000);
    }

    #[test]
    fn nobody_positive_means_no_weight() {
        let now = 10 * DAY_MS;
        let w = weights(&[at("a", -1, 0.5, now)], now);
        assert_eq!(w["a"], 0);
    }
}
