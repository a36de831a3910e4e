//! The database layer: every SQL statement of the platform lives in this module's files, as free
//! functions over any executor (the pool or a transaction).
//!
//! One code path serves both backends through sqlx's `Any` driver: the SQL is portable (`$n`
//! placeholders, `TEXT`/`BIGINT` columns, `ON CONFLICT`), ids are UUID text and times Unix milliseconds.
//! Where a statement must differ (row locking), `Backend` says which one is in use.

pub mod admin_actions;
pub mod api_keys;
pub mod datasets;
pub mod evaluations;
pub mod fine_tuning_jobs;
pub mod jobs;
pub mod miners;
pub mod models;
pub mod offers;
pub mod operations;
pub mod recipes;
pub mod scores;
pub mod sessions;
pub mod settings;
pub mod sign_in_failures;
pub mod submissions;
pub mod tasks;
pub mod tournaments;
pub mod users;
pub mod webhooks;

use std::str::FromStr;
use std::sync::Once;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

use crate::secret::Secret;

/// The database driver's error, for callers outside this crate.
pub use sqlx::Error as SqlxError;

/// Which database server the platform talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The database server's clock in Unix milliseconds, as an SQL expression. Both are fixed for the
    /// length of one statement, so a `WHERE` and a `RETURNING` of one statement read the same time.
    pub fn clock_ms(self) -> &'static str {
        match self {
            Backend::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)",
            Backend::Postgres => "CAST(EXTRACT(EPOCH FROM statement_timestamp()) * 1000 AS BIGINT)",
        }
    }
}

/// A database URL: `sqlite://PATH` or `postgres://…`. Wrapped because it may hold a password.
#[derive(Clone, Debug)]
pub struct DatabaseUrl {
    url: Secret<String>,
    backend: Backend,
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> crate::Result<Self> {
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(crate::Error::invalid(
                "database_url",
                "the database URL must start with sqlite:// or postgres://",
            ));
        };
        Ok(DatabaseUrl {
            url: Secret::new(url.to_string()),
            backend,
        })
    }

    /// A SQLite database file, created if it does not exist.
    pub fn sqlite_file(path: &std::path::Path) -> Self {
        let url = format!("sqlite://{}?mode=rwc", path.display());
        DatabaseUrl {
            url: Secret::new(url),
            backend: Backend::Sqlite,
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }
}

/// A connection pool and the backend behind it.
#[derive(Clone, Debug)]
pub struct Database {
    pool: AnyPool,
    backend: Backend,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

impl Database {
    /// Connects and applies any migration not applied yet.
    pub async fn connect(url: &DatabaseUrl) -> Result<Self, sqlx::Error> {
        static DRIVERS: Once = Once::new();
        DRIVERS.call_once(sqlx::any::install_default_drivers);

        let options = AnyConnectOptions::from_str(url.url.expose())?;
        let backend = url.backend;
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 8 } else { 16 })
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers and the one writer proceed together; the busy timeout makes
                        // writers wait their turn instead of failing.
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Database { pool, backend })
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Succeeds when the database answers a trivial query.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
    }

    /// The database's own clock, in Unix milliseconds: every replica reads the same time from it, so
    /// leases and retries do not depend on any one server's clock.
    pub async fn now(&self) -> Result<crate::clock::Millis, sqlx::Error> {
        let sql = match self.backend {
            // Rounded, not truncated: the day fraction's float error would otherwise put the database a
            // millisecond behind the server's clock, and a job queued "now" would not be due yet.
            Backend::Sqlite => {
                "SELECT CAST(ROUND((julianday('now') - 2440587.5) * 86400000.0) AS BIGINT)"
            }
            Backend::Postgres => {
                "SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)"
            }
        };
        sqlx::query_scalar(sql).fetch_one(&self.pool).await
    }

    /// The versions of the applied migrations, oldest first.
    pub async fn applied_migrations(&self) -> Result<Vec<i64>, sqlx::Error> {
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&self.pool)
            .await
    }
}

/// Numbers the placeholders of a statement's optional values, from `first`: a present value gets the
/// next `$n` (bound in the same order), an absent one a literal `NULL`. The `Any` driver's untyped NULL
/// would give PostgreSQL's cached statement the wrong parameter type for the next, present, value.
pub(crate) struct Nullables {
    next: usize,
}

impl Nullables {
    pub(crate) fn from(first: usize) -> Self {
        Self { next: first }
    }

    pub(crate) fn slot(&mut self, present: bool) -> String {
        if !present {
            return "NULL".to_owned();
        }
        self.next += 1;
        format!("${}", self.next - 1)
    }
}
