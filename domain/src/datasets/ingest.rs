//! Validation as background work: a request moves the dataset to `validating` and enqueues a job in the
//! same transaction; the job streams the stored file through the pipeline on a blocking thread and
//! writes the two splits. Running it twice gives the same objects and the same report.

use std::io::{BufReader, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use rand::RngCore;
use tokio_util::io::{StreamReader, SyncIoBridge};

use super::dataset::{Dataset, DatasetState, get, source_key, test_key, train_key};
use super::{Format, Mapping, TaskType, validate};
use crate::Platform;
use crate::accounts::User;
use crate::clock::now_ms;
use crate::db;
use crate::error::{Error, Result};
use crate::jobs::{JobKind, MAX_ATTEMPTS};
use crate::storage::{ByteStream, bytes_stream};

/// Training rows travel to the object store in chunks of about this size.
const CHUNK_BYTES: usize = 256 * 1024;

/// Starts validating the owner's dataset for `task_type` with `mapping` (the suggested one if `None`).
pub async fn request_validation(
    platform: &Platform,
    owner: &User,
    id: &str,
    task_type: TaskType,
    mapping: Option<Mapping>,
    seed: Option<u64>,
) -> Result<Dataset> {
    let dataset = get(&platform.db, owner, id).await?;
    let mapping = mapping.unwrap_or_else(|| Mapping::suggest(task_type, &dataset.columns));
    mapping.check(task_type, &dataset.columns)?;
    let seed = seed.unwrap_or_else(|| rand::rng().next_u64());
    let mapping_json = serde_json::to_string(&mapping).expect("a mapping serialises");

    let mut tx = platform.db.pool().begin().await?;
    let now = now_ms();
    // The seed is stored as the i64 with the same bits.
    if !db::datasets::start_validation(
        &mut *tx,
        id,
        task_type.as_str(),
        &mapping_json,
        seed as i64,
        now,
    )
    .await?
    {
        return Err(Error::Conflict {
            field: None,
            message: "this dataset is being validated already; wait for the report".into(),
        });
    }
    db::jobs::enqueue(
        &mut *tx,
        JobKind::ValidateDataset.as_str(),
        id,
        MAX_ATTEMPTS,
        now,
    )
    .await?;
    tx.commit().await?;
    get(&platform.db, owner, id).await
}

/// The job: validates and splits dataset `id`. Does nothing unless the dataset is `validating`.
pub async fn validate_dataset(platform: &Platform, id: &str) -> Result<()> {
    let Some(row) = db::datasets::by_id(platform.db.pool(), id).await? else {
        return Ok(());
    };
    if row.state != DatasetState::Validating.as_str() {
        return Ok(());
    }
    let malformed = |what: &str| Error::Internal(format!("dataset {id} has no valid {what}"));
    let format: Format = serde_json::from_str(&row.format).map_err(|_| malformed("format"))?;
    let task_type = row
        .task_type
        .as_deref()
        .and_then(TaskType::parse)
        .ok_or_else(|| malformed("task type"))?;
    let mapping: Mapping = serde_json::from_str(row.mapping.as_deref().unwrap_or(""))
        .map_err(|_| malformed("mapping"))?;
    let seed = row.seed.ok_or_else(|| malformed("seed"))? as u64;
    let limits = platform.dataset_limits;

    let source = platform.store.get(&source_key(id)).await?;
    let read = Arc::new(AtomicU64::new(0));
    let counted = CountingReader {
        inner: SyncIoBridge::new(StreamReader::new(source)),
        read: read.clone(),
    };
    let reader = BufReader::with_capacity(CHUNK_BYTES, counted);
    let progress = tokio::spawn(report_progress(platform.clone(), id.to_string(), read));
    let (sender, receiver) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(8);
    let pipeline = tokio::task::spawn_blocking(move || {
        let mut buffer = Vec::with_capacity(CHUNK_BYTES + 4096);
        let send = |buffer: &mut Vec<u8>| {
            // A closed channel means the upload failed; its error is reported by the store.
            let _ = sender.blocking_send(Ok(Bytes::from(std::mem::take(buffer))));
        };
        let mut train = |row: &str| {
            buffer.extend_from_slice(row.as_bytes());
            buffer.push(b'\n');
            if buffer.len() >= CHUNK_BYTES {
                send(&mut buffer);
            }
        };
        let validated = validate(
            format, reader, task_type, &mapping, seed, &limits, &mut train,
        );
        match &validated {
            Ok(_) if !buffer.is_empty() => send(&mut buffer),
            Ok(_) => {}
            Err(_) => {
                let _ = sender.blocking_send(Err(std::io::Error::other("validation stopped")));
            }
        }
        validated
    });
    let train = train_key(id);
    let train_upload = platform.store.put(&train, receiving(receiver));
    let (uploaded, validated) = tokio::join!(train_upload, pipeline);
    progress.abort();
    let validated =
        validated.map_err(|err| Error::Internal(format!("the validation thread failed: {err}")))?;

    let now = now_ms();
    let validated = match validated {
        Ok(validated) => validated,
        Err(file_error) => {
            discard_splits(platform, id).await?;
            db::datasets::finish_validation(
                platform.db.pool(),
                id,
                "refused",
                None,
                Some(&file_error.0),
                now,
            )
            .await?;
            return Ok(());
        }
    };
    uploaded?;
    let report = serde_json::to_string(&validated.report).expect("a report serialises");
    if let Some(refusal) = &validated.report.refusal {
        discard_splits(platform, id).await?;
        db::datasets::finish_validation(
            platform.db.pool(),
            id,
            "refused",
            Some(&report),
            Some(refusal),
            now,
        )
        .await?;
        return Ok(());
    }
    let mut test = String::with_capacity(validated.test_rows.iter().map(|r| r.len() + 1).sum());
    for row in &validated.test_rows {
        test.push_str(row);
        test.push('\n');
    }
    platform
        .store
        .put(&test_key(id), bytes_stream(test))
        .await?;
    db::datasets::finish_validation(platform.db.pool(), id, "ready", Some(&report), None, now)
        .await?;
    Ok(())
}

/// A reader that counts the bytes read through it, for the progress bar.
struct CountingReader<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Writes the bytes read so far to the dataset's row once a second, until aborted.
async fn report_progress(platform: Platform, id: String, read: Arc<AtomicU64>) {
    let mut every = tokio::time::interval(Duration::from_secs(1));
    loop {
        every.tick().await;
        let bytes = i64::try_from(read.load(Ordering::Relaxed)).unwrap_or(i64::MAX);
        if let Err(err) = db::datasets::record_progress(platform.db.pool(), &id, bytes).await {
            tracing::warn!(dataset = %id, error = %err, "could not record validation progress");
        }
    }
}

/// The chunks the validation thread sends, as a stream for the object store.
fn receiving(receiver: tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>) -> ByteStream {
    Box::pin(futures::stream::unfold(
        receiver,
        |mut receiver| async move { receiver.recv().await.map(|item| (item, receiver)) },
    ))
}

async fn discard_splits(platform: &Platform, id: &str) -> Result<()> {
    platform.store.delete(&train_key(id)).await?;
    platform.store.delete(&test_key(id)).await?;
    Ok(())
}
