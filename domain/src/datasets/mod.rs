//! Datasets: what customers upload, how the platform reads, checks and splits it.
//!
//! The pure pipeline (`format` → `rows` → `normalise` → `validation`, with `split` and `report`) works
//! on any reader and knows nothing of storage or the database; `ingest` runs it as background work.

pub mod format;
pub mod mapping;
pub mod normalise;
pub mod report;
pub mod rows;
pub mod split;
pub mod task_type;
pub mod validation;

pub use format::Format;
pub use mapping::Mapping;
pub use report::Report;
pub use task_type::TaskType;
pub use validation::{Limits, Validated, validate};
