//! What an object store can fail with.

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("no object at {0}")]
    NotFound(String),
    #[error("invalid object key {key:?}: {reason}")]
    InvalidKey { key: String, reason: &'static str },
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    #[error("object store: {0}")]
    Backend(String),
}
