//! The runner port: runs one program — an evaluator, a miner's training recipe — under limits, with
//! its inputs read-only and one output directory it may write, and says how it ended. Two backends:
//! [`ProcessRunner`] (a local process group, the embedded default) and [`DockerRunner`] (a container on
//! a Docker engine reached through bollard, local or remote, with no network).

mod docker;
mod logs;
mod output;
mod process;

use std::path::PathBuf;
use std::time::Duration;

pub use bollard::Docker;
pub use docker::{DockerRunner, Image, OUTPUT_MOUNT, settle};
pub use output::used_bytes;
pub use process::ProcessRunner;

/// What to run and within which limits.
#[derive(Clone, Debug)]
pub struct RunSpec {
    /// The program and its arguments. For the process runner a path on this machine; for Docker the
    /// command inside the image (empty: the image's own entry point).
    pub command: Vec<String>,
    /// Directories the program reads, mounted read-only: (host path, path inside the container).
    /// The process runner passes the host paths as they are.
    pub inputs: Vec<(PathBuf, String)>,
    /// The one directory the program may write (`/output` inside a container).
    pub output_dir: PathBuf,
    pub env: Vec<(String, String)>,
    pub limits: Limits,
    /// What the run is, the same for every attempt at the same work (one entrant's run on one task).
    /// Docker labels the container with it and first removes any container an earlier attempt left
    /// (its server was killed, so nothing stopped it); only one claim holds the work at a time, so
    /// such a container is nobody's now. `None` for runs that need no such care.
    pub work: Option<String>,
}

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Wall-clock time; the program and all its children are killed at it.
    pub time: Duration,
    /// Resident memory of the program and its children together.
    pub memory_bytes: u64,
    /// CPUs (Docker only; a process shares the machine's).
    pub cpus: f64,
    /// Processes and threads (Docker only).
    pub pids: i64,
    /// GPUs to request (Docker only): `None` for none, `Some(-1)` for all.
    pub gpus: Option<i64>,
    /// The most the output directory may hold; beyond it the run is stopped, and no file may grow
    /// larger (`fsize`).
    pub output_bytes: u64,
    /// Files the program may hold open at once (`nofile`).
    pub open_files: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            time: Duration::from_secs(3600),
            memory_bytes: 4 << 30,
            cpus: 1.0,
            pids: 256,
            gpus: None,
            output_bytes: 64 << 30,
            open_files: 4096,
        }
    }
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ending {
    /// The program exited by itself with this code (0 is success).
    Exited(i64),
    /// Killed at the time limit.
    TimedOut,
    /// Killed for going over the memory limit.
    OutOfMemory,
    /// Ended by a signal it was not sent by us.
    Signalled(i32),
    /// Stopped for writing more than its output quota.
    OutputTooLarge,
}

#[derive(Clone, Debug)]
pub struct Outcome {
    pub ending: Ending,
    /// The last part of its standard output and error, interleaved as written.
    pub logs: String,
    pub duration: Duration,
}

impl Outcome {
    pub fn succeeded(&self) -> bool {
        self.ending == Ending::Exited(0)
    }
}

/// The runner could not run the program at all (as opposed to a program that failed).
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error("the program could not be started: {0}")]
    Start(String),
    #[error("the Docker engine: {0}")]
    Docker(#[from] bollard::errors::Error),
    #[error("building the image failed: {0}")]
    Build(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

#[async_trait::async_trait]
pub trait Runner: Send + Sync {
    async fn run(&self, spec: &RunSpec) -> Result<Outcome, RunnerError>;
}
