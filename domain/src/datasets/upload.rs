//! Receiving a dataset file: streamed into the object store under size limits, then inspected (format,
//! columns, first rows) from its first MiB.

use std::io::BufReader;

use futures::StreamExt;
use tokio_util::io::{StreamReader, SyncIoBridge};

use super::dataset::{Dataset, DatasetState, source_key};
use super::{Format, format, images, parquet_rows, rows};
use crate::Platform;
use crate::accounts::User;
use crate::clock::now_ms;
use crate::db::{self, datasets::DatasetRow};
use crate::error::{Error, Result};
use crate::storage::{ByteStream, StorageError, read_head};

#[derive(Clone, Copy, Debug)]
pub struct UploadLimits {
    /// The largest file accepted.
    pub max_file_bytes: u64,
    /// What one account may store in all.
    pub quota_bytes: u64,
}

impl Default for UploadLimits {
    fn default() -> Self {
        UploadLimits {
            max_file_bytes: 10 * 1024 * 1024 * 1024,
            quota_bytes: 50 * 1024 * 1024 * 1024,
        }
    }
}

/// How much of a file is read to recognise it and show its first rows.
const HEAD_BYTES: usize = 1024 * 1024;
const PREVIEW_ROWS: usize = 5;
pub const MAX_NAME_CHARS: usize = 200;

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1024.0 * 1024.0 * 1024.0))
}

/// The refusal of a file that does not fit in what is left of the owner's quota.
fn over_quota(used: u64, quota: u64) -> Error {
    Error::TooLarge(format!(
        "this file would exceed your storage quota: {} of {} are used; delete datasets you no longer need",
        gib(used),
        gib(quota)
    ))
}

pub async fn upload(
    platform: &Platform,
    owner: &User,
    name: &str,
    body: ByteStream,
    declared_len: Option<u64>,
    has_header: bool,
) -> Result<Dataset> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(Error::invalid(
            "name",
            format!("give the dataset a name of 1 to {MAX_NAME_CHARS} characters"),
        ));
    }
    let limits = platform.upload_limits;
    let used = u64::try_from(db::datasets::bytes_for_owner(platform.db.pool(), &owner.id).await?)
        .unwrap_or(0);
    let left = limits.quota_bytes.saturating_sub(used);
    let allowed = limits.max_file_bytes.min(left);
    let too_large = || {
        if allowed < limits.max_file_bytes {
            over_quota(used, limits.quota_bytes)
        } else {
            Error::TooLarge(format!(
                "the file is larger than the {} limit for one dataset",
                gib(limits.max_file_bytes)
            ))
        }
    };
    if declared_len.is_some_and(|len| len > allowed) {
        return Err(too_large());
    }

    let id = uuid::Uuid::now_v7().to_string();
    let key = source_key(&id);
    let mut seen = 0u64;
    let limited = body.map(move |chunk| {
        let chunk = chunk?;
        seen += chunk.len() as u64;
        if seen > allowed {
            return Err(std::io::Error::new(
                std::io::ErrorKind::FileTooLarge,
                "over the upload limit",
            ));
        }
        Ok(chunk)
    });
    let stored = match platform.store.put(&key, Box::pin(limited)).await {
        Ok(stored) => stored,
        Err(StorageError::Io(err)) if err.kind() == std::io::ErrorKind::FileTooLarge => {
            return Err(too_large());
        }
        Err(err) => return Err(err.into()),
    };

    match inspect(platform, &id, has_header).await {
        Ok((format, columns, preview)) => {
            let now = now_ms();
            let row = DatasetRow {
                id: id.clone(),
                owner_id: owner.id.clone(),
                name: name.to_string(),
                state: DatasetState::Uploaded.as_str().to_string(),
                format: serde_json::to_string(&format).expect("a format serialises"),
                size_bytes: i64::try_from(stored.size).unwrap_or(i64::MAX),
                sha256: stored.sha256,
                columns: serde_json::to_string(&columns).expect("strings serialise"),
                preview: serde_json::to_string(&preview).expect("rows serialise"),
                task_type: None,
                mapping: None,
                seed: None,
                report: None,
                error: None,
                created_at: now,
                updated_at: now,
                validated_bytes: 0,
                test_dataset_id: None,
                splits_prefix: None,
            };
            // The quota again, now with the owner's row held: two uploads at once cannot both fit
            // into room there is for one.
            let mut tx = platform.db.pool().begin().await?;
            db::users::hold(&mut *tx, &owner.id).await?;
            let used = u64::try_from(db::datasets::bytes_for_owner(&mut *tx, &owner.id).await?)
                .unwrap_or(0);
            if used + stored.size > limits.quota_bytes {
                drop(tx);
                platform.store.delete(&key).await?;
                return Err(over_quota(used, limits.quota_bytes));
            }
            db::datasets::insert(&mut *tx, &row).await?;
            tx.commit().await?;
            row.try_into()
        }
        Err(err) => {
            platform.store.delete(&key).await?;
            Err(err)
        }
    }
}

/// Reads the stored file: its format, columns and first rows. Text formats need only the first MiB;
/// Parquet and zip keep their index at the end, so they are read whole (on a blocking thread).
/// With `has_header` false, a CSV file's first row is data (other formats are refused so).
async fn inspect(
    platform: &Platform,
    id: &str,
    has_header: bool,
) -> Result<(Format, Vec<String>, Vec<rows::Row>)> {
    let stream = platform.store.get(&source_key(id)).await?;
    let head = read_head(stream, HEAD_BYTES)
        .await
        .map_err(StorageError::from)?;
    let mut format = format::detect(&head).map_err(|why| Error::invalid("file", why))?;
    if !has_header {
        format = format
            .without_header()
            .map_err(|why| Error::invalid("has_header", why))?;
    }
    let sampled = match format {
        Format::Parquet | Format::Zip => {
            let whole = platform.store.get(&source_key(id)).await?;
            let reader = BufReader::new(SyncIoBridge::new(StreamReader::new(whole)));
            tokio::task::spawn_blocking(move || match format {
                Format::Parquet => parquet_rows::sample_parquet(reader, PREVIEW_ROWS),
                _ => images::sample_images(reader, PREVIEW_ROWS),
            })
            .await
            .map_err(|err| Error::Internal(format!("the inspection thread failed: {err}")))?
        }
        _ => rows::sample(format, &head, PREVIEW_ROWS),
    };
    let (columns, preview) = sampled.map_err(|why| Error::invalid("file", why.0))?;
    Ok((format, columns, preview))
}
