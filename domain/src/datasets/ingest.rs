//! Validation as background work: a request moves the dataset to `validating` and enqueues a job in the
//! same transaction; the job streams the stored file through the pipeline on a blocking thread and
//! writes the two splits. Running it twice gives the same objects and the same report.

use std::collections::HashSet;
use std::io::{BufReader, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use rand::RngCore;
use tokio_util::io::{ReaderStream, StreamReader, SyncIoBridge};

use super::dataset::{Dataset, DatasetState, Splits, get, source_key};
use super::images::validate_images;
use super::report::{OwnTest, Report};
use super::rows::FileError;
use super::validation::row_hash;
use super::{Format, Holdout, Limits, Mapping, TaskType, validate};
use crate::accounts::User;
use crate::clock::now_ms;
use crate::db;
use crate::error::{Error, Result};
use crate::queue::{self, Job, Queue};
use crate::storage::{ByteStream, ObjectKey, ObjectStore, bytes_stream};

/// Training rows travel to the object store in chunks of about this size.
const CHUNK_BYTES: usize = 256 * 1024;

/// What validating datasets needs.
#[derive(Clone, Debug)]
pub struct Ingest {
    pub db: db::Database,
    pub store: Arc<dyn ObjectStore>,
    /// What a dataset must satisfy to be accepted.
    pub limits: Limits,
}

/// What a customer asks validation for.
#[derive(Clone, Debug)]
pub struct ValidationRequest {
    pub task_type: TaskType,
    /// The suggested mapping if `None`; image datasets take none.
    pub mapping: Option<Mapping>,
    /// A random one if `None`.
    pub seed: Option<u64>,
    /// Another of the owner's uploaded datasets whose usable rows are the whole test split.
    pub test_dataset_id: Option<String>,
}

/// The most rows an owner's own test file may give.
pub const MAX_OWN_TEST_ROWS: usize = 10_000;

/// Starts validating the owner's dataset as `request` says.
pub async fn request_validation(
    ingest: &Ingest,
    owner: &User,
    id: &str,
    request: ValidationRequest,
) -> Result<Dataset> {
    let dataset = get(&ingest.db, owner, id).await?;
    let task_type = request.task_type;
    if (dataset.format == Format::Zip) != (task_type == TaskType::Image) {
        let why = if dataset.format == Format::Zip {
            "a zip archive is an image dataset: choose the image task type"
        } else {
            "the image task type takes a zip archive of images with captions"
        };
        return Err(Error::invalid("task_type", why));
    }
    let mapping = request
        .mapping
        .unwrap_or_else(|| Mapping::suggest(task_type, &dataset.columns));
    mapping.check(task_type, &dataset.columns)?;
    let test_dataset = match request.test_dataset_id.as_deref() {
        None => None,
        Some(_) if task_type == TaskType::Image => {
            return Err(Error::invalid(
                "test_dataset_id",
                "an own test file is taken for text datasets only; image datasets are split by the platform",
            ));
        }
        Some(test_id) if test_id == id => {
            return Err(Error::invalid(
                "test_dataset_id",
                "the test file must be another dataset than the one it tests",
            ));
        }
        Some(test_id) => {
            let test = get(&ingest.db, owner, test_id).await?;
            if test.format == Format::Zip {
                return Err(Error::invalid(
                    "test_dataset_id",
                    "the test file is a zip archive; give a JSONL, JSON, CSV or Parquet file",
                ));
            }
            mapping.check(task_type, &test.columns).map_err(|err| {
                Error::invalid(
                    "test_dataset_id",
                    format!("the test file does not fit the mapping: {err}"),
                )
            })?;
            Some(test.id)
        }
    };
    let seed = request.seed.unwrap_or_else(|| rand::rng().next_u64());
    let mapping_json = serde_json::to_string(&mapping).expect("a mapping serialises");

    let mut tx = ingest.db.pool().begin().await?;
    let now = now_ms();
    if let Some(test_id) = &test_dataset
        && !db::datasets::hold_out(&mut *tx, test_id, &owner.id, now).await?
    {
        return Err(Error::Conflict {
            field: Some("test_dataset_id"),
            message: "the test file must be a dataset that is uploaded and not validated for a task of its own"
                .into(),
        });
    }
    // The seed is stored as the i64 with the same bits.
    let splits = Splits::fresh(id);
    if !db::datasets::start_validation(
        &mut *tx,
        id,
        task_type.as_str(),
        &mapping_json,
        seed as i64,
        test_dataset.as_deref(),
        splits.prefix(),
        now,
    )
    .await?
    {
        drop(tx);
        return Err(Error::Conflict {
            field: None,
            message: why_not_validated(ingest, &dataset).await?,
        });
    }
    let job = ValidateDataset {
        dataset_id: id.to_string(),
    };
    queue::enqueue(&mut *tx, &job, now).await?;
    tx.commit().await?;
    get(&ingest.db, owner, id).await
}

/// Why dataset `dataset` cannot be validated now: it is being validated, it is a held-out test file,
/// or a task or tournament that has not ended trains or is scored on its splits.
async fn why_not_validated(ingest: &Ingest, dataset: &Dataset) -> Result<String> {
    if let Some((what, id, state)) =
        db::datasets::blocking_use(ingest.db.pool(), &dataset.id).await?
    {
        return Ok(format!(
            "{what} {id} ({state}) uses this dataset's splits; validating it again would change the \
             rows it trains and is scored on. Wait until it has ended, or upload the file again as a \
             new dataset"
        ));
    }
    let state = db::datasets::by_id(ingest.db.pool(), &dataset.id)
        .await?
        .map(|row| row.state);
    Ok(match state.as_deref() {
        Some("held_out") => "this dataset is another dataset's own test file: its rows are secret \
                             and it cannot be validated for a task of its own; upload the file again \
                             as a new dataset"
            .into(),
        _ => "this dataset is being validated already; wait for the report".into(),
    })
}

/// What validation concluded: the splits are stored (ready), or the dataset is refused and why.
enum Verdict {
    Ready(Report),
    Refused(Option<Report>, String),
}

/// The owner's own test rows, normalised, with what their file held.
struct OwnTestRows {
    rows: Vec<String>,
    summary: OwnTest,
}

/// The job that validates and splits a dataset.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct ValidateDataset {
    pub dataset_id: String,
}

impl Job for ValidateDataset {
    const NAME: &'static str = "validate_dataset";
    const QUEUE: Queue = Queue::Cpu;
    type Context = Ingest;

    fn subject(&self) -> &str {
        &self.dataset_id
    }

    async fn run(self, ingest: Ingest) -> Result<()> {
        validate_dataset(&ingest, &self.dataset_id).await
    }
}

/// Validates and splits dataset `id`. Does nothing unless the dataset is `validating`.
pub async fn validate_dataset(ingest: &Ingest, id: &str) -> Result<()> {
    let Some(row) = db::datasets::by_id(ingest.db.pool(), id).await? else {
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
    let splits = Splits::stored(row.splits_prefix.clone(), id);

    let verdict = if format == Format::Zip {
        split_images(ingest, id, &splits, seed).await?
    } else {
        let own = match row.test_dataset_id.as_deref() {
            None => None,
            Some(test_id) => match own_test_rows(ingest, test_id, task_type, &mapping).await? {
                Ok(own) => Some(own),
                Err(why) => return refuse(ingest, id, &splits, None, &why).await,
            },
        };
        split_text(ingest, id, &splits, format, task_type, mapping, seed, own).await?
    };
    match verdict {
        Verdict::Ready(report) => {
            let report = serde_json::to_string(&report).expect("a report serialises");
            db::datasets::finish_validation(
                ingest.db.pool(),
                id,
                "ready",
                Some(&report),
                None,
                now_ms(),
            )
            .await?;
            Ok(())
        }
        Verdict::Refused(report, why) => refuse(ingest, id, &splits, report, &why).await,
    }
}

/// Records the refusal and deletes what this validation wrote: only its own splits, never those of an
/// earlier validation that a task or tournament may still use.
async fn refuse(
    ingest: &Ingest,
    id: &str,
    splits: &Splits,
    report: Option<Report>,
    why: &str,
) -> Result<()> {
    for key in splits.all() {
        ingest.store.delete(&key).await?;
    }
    let report = report.map(|r| serde_json::to_string(&r).expect("a report serialises"));
    db::datasets::finish_validation(
        ingest.db.pool(),
        id,
        "refused",
        report.as_deref(),
        Some(why),
        now_ms(),
    )
    .await?;
    Ok(())
}

/// The owner's own test rows, normalised, and what their file held; or why the file cannot serve.
async fn own_test_rows(
    ingest: &Ingest,
    test_id: &str,
    task_type: TaskType,
    mapping: &Mapping,
) -> Result<std::result::Result<OwnTestRows, String>> {
    let Some(test) = db::datasets::by_id(ingest.db.pool(), test_id).await? else {
        return Ok(Err("the test file was deleted; choose another".into()));
    };
    let format: Format = serde_json::from_str(&test.format)
        .map_err(|_| Error::Internal(format!("dataset {test_id} has no valid format")))?;
    let limits = Limits {
        min_usable_rows: 1,
        ..ingest.limits
    };
    let mapping = mapping.clone();
    let outcome = through_pipeline(ingest, test_id, None, None, move |reader, _| {
        let mut rows = Vec::new();
        let validated = validate(
            format,
            reader,
            task_type,
            &mapping,
            Holdout::Own(HashSet::new()),
            &limits,
            &mut |row: &str| {
                if rows.len() <= MAX_OWN_TEST_ROWS {
                    rows.push(row.to_string());
                }
            },
        )?;
        Ok((validated.report, rows))
    })
    .await?;
    let name = &test.name;
    let (report, rows) = match outcome {
        Ok(done) => done,
        Err(file_error) => return Ok(Err(format!("your test file \"{name}\": {file_error}"))),
    };
    if report.usable_rows == 0 {
        return Ok(Err(format!(
            "your test file \"{name}\" has no usable rows (of {}); check it against the mapping",
            report.total_rows
        )));
    }
    if rows.len() > MAX_OWN_TEST_ROWS {
        return Ok(Err(format!(
            "your test file \"{name}\" has {} usable rows; at most {MAX_OWN_TEST_ROWS} are taken",
            report.usable_rows
        )));
    }
    Ok(Ok(OwnTestRows {
        rows,
        summary: OwnTest {
            dataset_id: test.id,
            name: test.name,
            total_rows: report.total_rows,
            usable_rows: report.usable_rows,
        },
    }))
}

/// Validates and splits a text dataset: training rows stream to the store as they are found.
#[allow(clippy::too_many_arguments)]
async fn split_text(
    ingest: &Ingest,
    id: &str,
    splits: &Splits,
    format: Format,
    task_type: TaskType,
    mapping: Mapping,
    seed: u64,
    own: Option<OwnTestRows>,
) -> Result<Verdict> {
    let limits = ingest.limits;
    let holdout = match &own {
        None => Holdout::Seeded(seed),
        Some(own) => Holdout::Own(own.rows.iter().map(|row| row_hash(row)).collect()),
    };
    let outcome = through_pipeline(
        ingest,
        id,
        Some(id),
        Some(splits.train()),
        move |reader, train| {
            validate(
                format,
                reader,
                task_type,
                &mapping,
                holdout,
                &limits,
                &mut |row: &str| train(row),
            )
        },
    )
    .await?;
    let validated = match outcome {
        Ok(validated) => validated,
        Err(file_error) => return Ok(Verdict::Refused(None, file_error.0)),
    };
    let (mut report, mut test_rows) = (validated.report, validated.test_rows);
    if let Some(own) = own {
        report.test_rows = own.rows.len() as u64;
        report.own_test = Some(own.summary);
        test_rows = own.rows;
    }
    if let Some(refusal) = report.refusal.clone() {
        return Ok(Verdict::Refused(Some(report), refusal));
    }
    let mut test = String::with_capacity(test_rows.iter().map(|r| r.len() + 1).sum());
    for row in &test_rows {
        test.push_str(row);
        test.push('\n');
    }
    ingest.store.put(&splits.test(), bytes_stream(test)).await?;
    Ok(Verdict::Ready(report))
}

/// Validates and splits an image archive, then stores each split's index and zip.
async fn split_images(ingest: &Ingest, id: &str, splits: &Splits, seed: u64) -> Result<Verdict> {
    let limits = ingest.limits;
    let outcome = through_pipeline(ingest, id, Some(id), None, move |reader, _| {
        validate_images(reader, seed, &limits)
    })
    .await?;
    let validated = match outcome {
        Ok(validated) => validated,
        Err(file_error) => return Ok(Verdict::Refused(None, file_error.0)),
    };
    if let Some(refusal) = validated.report.refusal.clone() {
        return Ok(Verdict::Refused(Some(validated.report), refusal));
    }
    let store = &ingest.store;
    store
        .put(&splits.train(), file_stream(validated.train_index))
        .await?;
    store
        .put(&splits.train_images(), file_stream(validated.train_zip))
        .await?;
    store
        .put(&splits.test(), file_stream(validated.test_index))
        .await?;
    store
        .put(&splits.test_images(), file_stream(validated.test_zip))
        .await?;
    Ok(Verdict::Ready(validated.report))
}

/// The reader a pipeline gets: the stored file, counted for the progress bar.
type SourceReader = BufReader<CountingReader<SyncIoBridge<StreamReader<ByteStream, Bytes>>>>;

/// Streams dataset `source_id`'s stored file through `work` on a blocking thread. Rows `work` gives
/// its sink are stored as JSONL under `out` (or dropped without one); with `progress_of`, that
/// dataset's progress bar follows the bytes read.
async fn through_pipeline<T: Send + 'static>(
    ingest: &Ingest,
    source_id: &str,
    progress_of: Option<&str>,
    out: Option<ObjectKey>,
    work: impl FnOnce(SourceReader, &mut (dyn FnMut(&str) + Send)) -> std::result::Result<T, FileError>
    + Send
    + 'static,
) -> Result<std::result::Result<T, FileError>> {
    let source = ingest.store.get(&source_key(source_id)).await?;
    let read = Arc::new(AtomicU64::new(0));
    let counted = CountingReader {
        inner: SyncIoBridge::new(StreamReader::new(source)),
        read: read.clone(),
    };
    let reader = BufReader::with_capacity(CHUNK_BYTES, counted);
    let progress =
        progress_of.map(|id| tokio::spawn(report_progress(ingest.clone(), id.to_string(), read)));
    let (sender, receiver) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(8);
    let pipeline = tokio::task::spawn_blocking(move || {
        let mut buffer = Vec::with_capacity(CHUNK_BYTES + 4096);
        let send = |buffer: &mut Vec<u8>| {
            // A closed channel means the upload failed; its error is reported by the store.
            let _ = sender.blocking_send(Ok(Bytes::from(std::mem::take(buffer))));
        };
        let mut sink = |row: &str| {
            buffer.extend_from_slice(row.as_bytes());
            buffer.push(b'\n');
            if buffer.len() >= CHUNK_BYTES {
                send(&mut buffer);
            }
        };
        let outcome = work(reader, &mut sink);
        match &outcome {
            Ok(_) if !buffer.is_empty() => send(&mut buffer),
            Ok(_) => {}
            Err(_) => {
                let _ = sender.blocking_send(Err(std::io::Error::other("validation stopped")));
            }
        }
        outcome
    });
    let upload = async {
        match &out {
            Some(key) => ingest.store.put(key, receiving(receiver)).await.map(drop),
            None => {
                let mut receiver = receiver;
                while receiver.recv().await.is_some() {}
                Ok(())
            }
        }
    };
    let (uploaded, outcome) = tokio::join!(upload, pipeline);
    if let Some(progress) = progress {
        progress.abort();
    }
    let outcome =
        outcome.map_err(|err| Error::Internal(format!("the validation thread failed: {err}")))?;
    if outcome.is_ok() {
        uploaded?;
    }
    Ok(outcome)
}

/// A temporary file the pipeline wrote, as a stream for the object store.
fn file_stream(file: std::fs::File) -> ByteStream {
    Box::pin(ReaderStream::with_capacity(
        tokio::fs::File::from_std(file),
        CHUNK_BYTES,
    ))
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
async fn report_progress(ingest: Ingest, id: String, read: Arc<AtomicU64>) {
    let mut every = tokio::time::interval(Duration::from_secs(1));
    loop {
        every.tick().await;
        let bytes = i64::try_from(read.load(Ordering::Relaxed)).unwrap_or(i64::MAX);
        if let Err(err) = db::datasets::record_progress(ingest.db.pool(), &id, bytes).await {
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
