//! Tournaments: miners' training recipes run by the platform on the same tasks, in groups or knockout
//! pairs, then a boss round against the defending champion. `bracket`, `boss` and `points` hold the
//! rules; `recipes` takes and builds recipes; `play` runs a tournament from registration to its
//! champion, one background job at a time.

pub mod boss;
pub mod bracket;
pub mod dockerfile;
pub mod play;
pub mod points;
pub mod recipes;
pub(crate) mod runs;

use std::time::Duration;

use crate::clock::Millis;

/// The trainer host where recipes are built and run: a Docker engine (this machine's, or another's).
#[derive(Clone, Debug)]
pub struct Trainers {
    pub docker: runner::Docker,
    /// Memory, CPUs and processes of one run; its time is the tournament's.
    pub limits: runner::Limits,
    pub build_timeout: Duration,
    pub max_recipe_bytes: u64,
    /// Base images a recipe may build from besides `scratch`, each pinned by digest
    /// (`name@sha256:…`).
    pub allowed_bases: Vec<String>,
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
