//! The public audit export: every score that goes into the weights (7 days before `as_of`), with its
//! reason, and the weights published from them. `crucible audit --export FILE` recomputes the weights
//! from the scores in the file alone and says whether they match.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::weights::{self, Points};
use crate::clock::Millis;
use crate::db::{self, Database};
use crate::error::Result;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditScore {
    pub task_id: String,
    pub task_type: String,
    /// The miner's hotkey.
    pub miner: String,
    pub points: i64,
    pub rank: Option<u32>,
    pub reason: String,
    pub scored_at: Millis,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditExport {
    pub formula: String,
    pub as_of: Millis,
    pub scores: Vec<AuditScore>,
    /// Hotkey → weight in parts per million.
    pub weights: BTreeMap<String, u64>,
}

impl From<db::scores::PublicScore> for AuditScore {
    fn from(row: db::scores::PublicScore) -> Self {
        AuditScore {
            task_id: row.task_id,
            task_type: row.task_type,
            miner: row.hotkey,
            points: row.points,
            rank: row.rank.and_then(|r| u32::try_from(r).ok()),
            reason: row.reason,
            scored_at: row.scored_at,
        }
    }
}

pub const FORMULA: &str = "per window w in (1d, 3d, 7d): P_w = max(0, sum of points in w); \
    s_w = floor(1e6 * P_w / sum of P_w); weight = floor((50 s_1d + 30 s_3d + 20 s_7d) / 100) ppm";

fn points(scores: &[AuditScore]) -> Vec<Points> {
    scores
        .iter()
        .map(|s| Points {
            miner: s.miner.clone(),
            points: s.points,
            scored_at: s.scored_at,
        })
        .collect()
}

/// The weights the export's scores give.
pub fn recompute(export: &AuditExport) -> BTreeMap<String, u64> {
    weights::weights(&points(&export.scores), export.as_of)
}

/// The export of the scores in the 7 days before `as_of`, with the weights they give.
pub async fn export(db: &Database, as_of: Millis) -> Result<AuditExport> {
    let scores: Vec<AuditScore> =
        db::scores::between(db.pool(), as_of - weights::DAY_MS * 7, as_of)
            .await?
            .into_iter()
            .map(AuditScore::from)
            .collect();
    let weights = weights::weights(&points(&scores), as_of);
    Ok(AuditExport {
        formula: FORMULA.into(),
        as_of,
        scores,
        weights,
    })
}
