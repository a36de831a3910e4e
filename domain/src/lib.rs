//! Crucible's domain: what the platform does, independent of how it is reached (HTTP, the command line,
//! background workers). SQL lives in [`db`]; object storage sits behind [`storage::ObjectStore`].

pub mod accounts;
pub mod admin_log;
pub mod catalogue;
pub mod clock;
pub mod datasets;
pub mod db;
pub mod error;
pub mod evaluation;
pub mod fine_tuning;
pub mod miners;
pub mod operations;
pub mod platform;
pub mod queue;
pub mod sandbox;
pub mod scoring;
pub mod secret;
pub mod session_store;
pub mod states;
pub mod storage;
pub mod tasks;
pub mod tournaments;
pub mod vault;
pub mod webhooks;
pub mod workers;

pub use error::{Error, Result};
pub use platform::Platform;
