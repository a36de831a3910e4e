//! Tournaments: miners' training recipes run by the platform on the same tasks, in groups or knockout
//! pairs, then a boss round against the defending champion. `bracket`, `boss` and `points` hold the
//! rules; `recipes` takes and builds recipes; `play` runs a tournament from registration to its
//! champion, one background job at a time; `champion` has the reigning champion's recipe train a
//! customer's task.

pub mod boss;
pub mod bracket;
pub mod champion;
pub mod play;
pub mod points;
pub mod recipes;

use std::sync::Arc;

use crate::clock::Millis;
use crate::db::Database;
use crate::sandbox::Evaluator;
use crate::storage::ObjectStore;

pub use crate::sandbox::Trainers;

/// What moving tournaments along needs: opening them, closing registration, drawing rounds and
/// deciding matches. Any server runs these steps; none of them runs a recipe.
#[derive(Clone, Debug)]
pub struct Organiser {
    pub db: Database,
    pub schedule: Schedule,
}

/// What building and running miners' recipes needs: the trainer hosts, the store that holds recipes
/// and the tasks' data, the evaluator that scores each run, and how long one of the platform's hours
/// lasts. A server without trainer hosts or an evaluator runs none of this.
#[derive(Clone, Debug)]
pub struct Arena {
    pub db: Database,
    pub store: Arc<dyn ObjectStore>,
    pub trainers: Trainers,
    pub evaluator: Evaluator,
    pub hour_ms: Millis,
}

/// When tournaments open and how long entries are taken.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    /// How long registration stays open.
    pub registration_ms: Millis,
    /// Fewer entrants than this when registration closes, and it stays open longer.
    pub min_entrants: usize,
    /// How many times registration is extended before the tournament is cancelled.
    pub registration_retries: i64,
    /// How long after a tournament ends the next opens.
    pub gap_ms: Millis,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            registration_ms: 24 * 3_600_000,
            min_entrants: 8,
            registration_retries: 3,
            gap_ms: 3_600_000,
        }
    }
}
