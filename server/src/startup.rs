//! Opening the platform's outside systems from the configuration.

use std::sync::Arc;

use domain::Platform;
use domain::db::Database;
use domain::storage::{LinkSigner, LocalStore, ObjectStore, S3Store};

use crate::CliError;
use crate::config::{DatasetArgs, StorageArgs, StorageTarget};

/// The database named by the arguments, migrated; the data directory is created for SQLite.
pub async fn database(args: &StorageArgs) -> Result<Database, CliError> {
    let url = args.database_url()?;
    if url.backend() == domain::db::Backend::Sqlite {
        tokio::fs::create_dir_all(&args.data_dir)
            .await
            .map_err(|err| {
                CliError::Config(format!(
                    "cannot create the data directory {}: {err}",
                    args.data_dir.display()
                ))
            })?;
    }
    Ok(Database::connect(&url).await?)
}

/// Everything a server needs: database, object store and signing key. `public_url` is where signed
/// links to local objects point.
pub async fn platform(
    args: &StorageArgs,
    datasets: &DatasetArgs,
    public_url: &str,
) -> Result<Platform, CliError> {
    let db = database(args).await?;
    let signing_key = domain::platform::signing_key(&db).await?;
    let store: Arc<dyn ObjectStore> = match args.storage_target()? {
        StorageTarget::Local(root) => {
            let links = LinkSigner::new(signing_key.clone(), public_url);
            Arc::new(LocalStore::open(&root, links).await.map_err(|err| {
                CliError::Config(format!(
                    "cannot open the object directory {}: {err}",
                    root.display()
                ))
            })?)
        }
        StorageTarget::S3(config) => Arc::new(S3Store::new(config)),
    };
    let (dataset_limits, upload_limits) = datasets.limits();
    Ok(Platform {
        db,
        store,
        signing_key,
        dataset_limits,
        job_lease_ms: datasets.job_lease_ms,
        upload_limits,
        scheduling: datasets.scheduling(),
        offer_watch: Default::default(),
    })
}
