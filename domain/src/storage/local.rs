//! The embedded object store: one file per object under a root directory. An object is written to a
//! partial file first and renamed into place when complete, so readers never see half an object.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use tokio::fs;
use tokio::io::AsyncWriteExt;
use tokio_util::io::ReaderStream;

use super::{
    ByteStream, LinkAccess, LinkSigner, ObjectKey, ObjectStore, StorageError, StoredObject, Tally,
};

/// Partial uploads live here; keys cannot name it because no key segment starts with a dot.
const PARTIAL_DIR: &str = ".partial";

#[derive(Debug)]
pub struct LocalStore {
    root: PathBuf,
    links: LinkSigner,
}

impl LocalStore {
    /// A store under `root`, created if missing. Partial files left by an interrupted process are removed.
    pub async fn open(root: impl Into<PathBuf>, links: LinkSigner) -> io::Result<Self> {
        let root = root.into();
        let partial = root.join(PARTIAL_DIR);
        if fs::try_exists(&partial).await? {
            fs::remove_dir_all(&partial).await?;
        }
        fs::create_dir_all(&partial).await?;
        Ok(LocalStore { root, links })
    }

    fn path(&self, key: &ObjectKey) -> PathBuf {
        self.root.join(key.as_str())
    }

    async fn write_partial(
        &self,
        partial: &Path,
        mut body: ByteStream,
    ) -> Result<StoredObject, StorageError> {
        let mut file = fs::File::create(partial).await?;
        let mut tally = Tally::default();
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            tally.add(&chunk);
            file.write_all(&chunk).await?;
        }
        file.sync_all().await?;
        Ok(tally.finish())
    }
}

#[async_trait]
impl ObjectStore for LocalStore {
    async fn put(&self, key: &ObjectKey, body: ByteStream) -> Result<StoredObject, StorageError> {
        let partial = self
            .root
            .join(PARTIAL_DIR)
            .join(uuid::Uuid::now_v7().to_string());
        let written = self.write_partial(&partial, body).await;
        let placed = match written {
            Ok(stored) => place(&partial, &self.path(key)).await.map(|()| stored),
            Err(err) => Err(err),
        };
        if placed.is_err() {
            let _ = fs::remove_file(&partial).await;
        }
        placed
    }

    async fn get(&self, key: &ObjectKey) -> Result<ByteStream, StorageError> {
        match fs::File::open(self.path(key)).await {
            Ok(file) => Ok(Box::pin(ReaderStream::with_capacity(file, 64 * 1024))),
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                Err(StorageError::NotFound(key.to_string()))
            }
            Err(err) => Err(err.into()),
        }
    }

    async fn size(&self, key: &ObjectKey) -> Result<Option<u64>, StorageError> {
        match fs::metadata(self.path(key)).await {
            Ok(meta) if meta.is_file() => Ok(Some(meta.len())),
            Ok(_) => Ok(None),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err.into()),
        }
    }

    async fn delete(&self, key: &ObjectKey) -> Result<(), StorageError> {
        match fs::remove_file(self.path(key)).await {
            Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err.into()),
            _ => Ok(()),
        }
    }

    async fn presign(
        &self,
        key: &ObjectKey,
        access: LinkAccess,
        ttl: Duration,
    ) -> Result<String, StorageError> {
        Ok(self.links.link(key, access, ttl))
    }
}

/// Moves a finished partial file to its key's path, creating the directories on the way.
async fn place(partial: &Path, target: &Path) -> Result<(), StorageError> {
    if let Some(parent) = target.parent() {
        fs::create_dir_all(parent).await?;
    }
    fs::rename(partial, target).await?;
    Ok(())
}
