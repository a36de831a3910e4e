//! The boxes untrusted work runs in, beneath evaluation and tournaments: a miner's artifact unpacked
//! with links refused ([`artifact`]), the evaluator run on a runner with the task's held-out split
//! ([`evaluator`], [`inputs`]), a recipe's Dockerfile read before anything is built ([`dockerfile`]),
//! and a recipe run in a fresh container on a trainer host ([`recipe_run`]). What runs here never
//! reaches the database; its callers record what came out.

pub mod artifact;
pub mod dockerfile;
pub mod evaluator;
mod inputs;
pub(crate) mod recipe_run;

pub use evaluator::{Evaluator, REFUSED_EXIT, Score, Scoring, score_model};
pub use inputs::{Inputs, Subject};

use std::time::Duration;

/// Why an attempt at a submission gave no score, and whose fault that is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The submission's own: it cannot be scored as it stands, and its miner loses a point.
    Submission(String),
    /// The platform's (store, runner, engine, evaluator): tried again, never held against a miner.
    Platform(String),
}

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
