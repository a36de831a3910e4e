//! Datasets: what customers upload, how the platform reads, checks and splits it.
//!
//! The pure pipeline (`format` → `rows` → `normalise` → `validation`, with `split` and `report`) works
//! on any reader and knows nothing of storage or the database; `ingest` runs it as background work.

pub mod dataset;
pub mod format;
pub mod images;
pub mod ingest;
pub mod mapping;
pub mod normalise;
pub mod parquet_rows;
pub mod report;
pub mod rows;
pub mod split;
pub mod task_type;
pub mod upload;
pub mod validation;

pub use dataset::{Dataset, DatasetState, get, list};
pub use format::Format;
pub use ingest::{ValidationRequest, request_validation};
pub use mapping::Mapping;
pub use report::Report;
pub use task_type::TaskType;
pub use upload::{UploadLimits, upload};
pub use validation::{Holdout, Limits, Validated, validate};
