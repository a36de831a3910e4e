//! The domain's one error type. Each variant says what a caller can do about it; the HTTP layer maps
//! variants to statuses and never shows the text of `Database`, `Storage` or `Internal` to users.

use crate::storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input is wrong; `field` names which part, `message` says what to do.
    #[error("{message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{message}")]
    Conflict {
        field: Option<&'static str>,
        message: String,
    },
    /// The input is over a size limit or quota.
    #[error("{0}")]
    TooLarge(String),
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after_secs: u64,
    },
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    #[error("internal: {0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Error::Invalid {
            field,
            message: message.into(),
        }
    }

    /// True for errors caused by the platform rather than by the caller's input.
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            Error::Database(_) | Error::Storage(_) | Error::Internal(_)
        )
    }
}

/// True when `err` is a unique-constraint violation, on either database backend.
pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}
