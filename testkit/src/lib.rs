//! Test helpers shared by the crates' test suites. Every test gets its own database and its own
//! object-store prefix, so tests run in parallel with no shared state.
//!
//! PostgreSQL and S3 are real servers that `scripts/test.sh` starts and names in environment variables:
//! `CRUCIBLE_TEST_POSTGRES_URL` (a superuser URL) and `CRUCIBLE_TEST_S3_ENDPOINT`,
//! `CRUCIBLE_TEST_S3_BUCKET`, `CRUCIBLE_TEST_S3_ACCESS_KEY`, `CRUCIBLE_TEST_S3_SECRET_KEY`.

pub mod files;
pub mod http;
pub mod recipes;

use std::sync::Arc;

use domain::db::{Database, DatabaseUrl};
use domain::secret::Secret;
use domain::storage::{LinkSigner, LocalStore, ObjectStore, S3Config, S3Store};
use sqlx::Connection;
use tempfile::TempDir;

/// A database that lives as long as this value (the SQLite file's directory is removed on drop).
pub struct TestDb {
    pub db: Database,
    _dir: Option<TempDir>,
}

fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests with scripts/test.sh, which starts the servers they need")
    })
}

pub async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = Database::connect(&DatabaseUrl::sqlite_file(&dir.path().join("crucible.db")))
        .await
        .expect("open SQLite");
    TestDb {
        db,
        _dir: Some(dir),
    }
}

/// A new, empty PostgreSQL database on the test server, migrated.
pub async fn postgres() -> TestDb {
    let url = postgres_database_url().await;
    let db = Database::connect(&DatabaseUrl::parse(&url).unwrap())
        .await
        .expect("open PostgreSQL");
    TestDb { db, _dir: None }
}

/// The URL of a new, empty database on the test PostgreSQL server.
pub async fn postgres_database_url() -> String {
    sqlx::any::install_default_drivers();
    let admin = required_env("CRUCIBLE_TEST_POSTGRES_URL");
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::AnyConnection::connect(&admin)
        .await
        .expect("connect to the test PostgreSQL server");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create a test database");
    conn.close().await.ok();
    let mut url = url::Url::parse(&admin).expect("CRUCIBLE_TEST_POSTGRES_URL is a URL");
    url.set_path(&name);
    url.to_string()
}

/// A test signer for local links, with a fixed base URL.
pub fn link_signer() -> LinkSigner {
    LinkSigner::new(
        Secret::new(b"testkit signing key".to_vec()),
        "http://127.0.0.1:9",
    )
}

/// An object store in a fresh directory.
pub async fn local_store() -> (Arc<dyn ObjectStore>, TempDir) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = LocalStore::open(dir.path().join("objects"), link_signer())
        .await
        .expect("open local store");
    (Arc::new(store), dir)
}

/// The S3 settings of the test server, under a prefix of its own.
pub fn s3_config() -> S3Config {
    S3Config {
        bucket: required_env("CRUCIBLE_TEST_S3_BUCKET"),
        prefix: format!("test-{}", uuid::Uuid::new_v4().simple()),
        endpoint: Some(required_env("CRUCIBLE_TEST_S3_ENDPOINT")),
        region: "us-east-1".into(),
        access_key_id: required_env("CRUCIBLE_TEST_S3_ACCESS_KEY"),
        secret_access_key: Secret::new(required_env("CRUCIBLE_TEST_S3_SECRET_KEY")),
    }
}

pub fn s3_store() -> Arc<dyn ObjectStore> {
    Arc::new(S3Store::new(s3_config()))
}

/// Runs a test's future on the one runtime all tests of this process share. Tests still run in
/// parallel (each on its own thread, all blocking on this runtime), as requests do in a server; separate
/// runtimes per test would be a setup no deployment has (and Leptos' rendering does not expect it).
pub fn run<F: std::future::Future>(test: F) -> F::Output {
    static RUNTIME: std::sync::LazyLock<tokio::runtime::Runtime> = std::sync::LazyLock::new(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime")
    });
    RUNTIME.block_on(test)
}

/// Defines each `async fn name(db: Database) { … }` as two tests, `name::sqlite` and `name::postgres`,
/// each on a fresh database.
#[macro_export]
macro_rules! on_both_databases {
    ($(async fn $name:ident($db:ident: Database) $body:block)*) => {
        $(mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn run($db: domain::db::Database) $body
            #[test]
            fn sqlite() { $crate::run(async { let t = $crate::sqlite().await; run(t.db.clone()).await }) }
            #[test]
            fn postgres() { $crate::run(async { let t = $crate::postgres().await; run(t.db.clone()).await }) }
        })*
    };
}

/// Defines each `async fn name(store: Arc<dyn ObjectStore>) { … }` as two tests, `name::local` and
/// `name::s3`.
#[macro_export]
macro_rules! on_both_stores {
    ($(async fn $name:ident($store:ident: Arc<dyn ObjectStore>) $body:block)*) => {
        $(mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn run($store: std::sync::Arc<dyn domain::storage::ObjectStore>) $body
            #[test]
            fn local() { $crate::run(async { let (store, _dir) = $crate::local_store().await; run(store).await }) }
            #[test]
            fn s3() { $crate::run(async { run($crate::s3_store()).await }) }
        })*
    };
}
