//! Object storage: datasets, splits and model artifacts. One trait, two backends: a local directory
//! (the embedded default) and S3. Bodies are streamed in both directions; no object is held whole.

mod error;
mod key;
mod local;
mod s3;
mod signed_link;

pub use error::StorageError;
pub use key::ObjectKey;
pub use local::LocalStore;
pub use s3::{PART_SIZE, S3Config, S3Store};
pub use signed_link::{LinkAccess, LinkError, LinkSigner};

use std::fmt::Debug;
use std::io;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use sha2::{Digest, Sha256};

/// A stream of an object's bytes.
pub type ByteStream = BoxStream<'static, io::Result<Bytes>>;

/// What was stored: its size and the SHA-256 of its bytes, computed on the way through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredObject {
    pub size: u64,
    pub sha256: String,
}

#[async_trait]
pub trait ObjectStore: Debug + Send + Sync + 'static {
    /// Streams `body` into the object at `key`, replacing any object there. The object appears whole
    /// or not at all: a body that fails part-way leaves nothing behind.
    async fn put(&self, key: &ObjectKey, body: ByteStream) -> Result<StoredObject, StorageError>;

    /// The object's bytes, as a stream.
    async fn get(&self, key: &ObjectKey) -> Result<ByteStream, StorageError>;

    /// The object's size, or `None` when there is no object at `key`.
    async fn size(&self, key: &ObjectKey) -> Result<Option<u64>, StorageError>;

    /// Deletes the object; deleting a missing object is not an error.
    async fn delete(&self, key: &ObjectKey) -> Result<(), StorageError>;

    /// A URL through which anyone holding it may read (or write) the object until `ttl` has passed.
    async fn presign(
        &self,
        key: &ObjectKey,
        access: LinkAccess,
        ttl: Duration,
    ) -> Result<String, StorageError>;
}

/// Counts and hashes the bytes of an object as they pass.
#[derive(Default)]
struct Tally {
    sha256: Sha256,
    size: u64,
}

impl Tally {
    fn add(&mut self, chunk: &[u8]) {
        self.sha256.update(chunk);
        self.size += chunk.len() as u64;
    }

    fn finish(self) -> StoredObject {
        StoredObject {
            size: self.size,
            sha256: hex::encode(self.sha256.finalize()),
        }
    }
}

/// Reads a whole stream into memory: for tests and small objects only.
pub async fn collect(mut stream: ByteStream) -> io::Result<Vec<u8>> {
    use futures::StreamExt;
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(out)
}

/// The first `limit` bytes of a stream (fewer if it is shorter); the rest is not read.
pub async fn read_head(mut stream: ByteStream, limit: usize) -> io::Result<Vec<u8>> {
    use futures::StreamExt;
    let mut head = Vec::new();
    while head.len() < limit {
        match stream.next().await {
            Some(chunk) => head.extend_from_slice(&chunk?),
            None => break,
        }
    }
    head.truncate(limit);
    Ok(head)
}

/// A stream of a file's bytes, read as they are sent.
pub async fn file_stream(path: &std::path::Path) -> io::Result<ByteStream> {
    let file = tokio::fs::File::open(path).await?;
    Ok(Box::pin(tokio_util::io::ReaderStream::with_capacity(
        file,
        1 << 20,
    )))
}

/// A stream of one in-memory buffer.
pub fn bytes_stream(bytes: impl Into<Bytes>) -> ByteStream {
    Box::pin(futures::stream::once(futures::future::ready(Ok(
        bytes.into()
    ))))
}
