//! A dataset as its owner sees it, and looking datasets up.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::rows::Row;
use super::{Format, Mapping, Report, TaskType};
use crate::Platform;
use crate::accounts::User;
use crate::clock::{Millis, now_ms};
use crate::db::{self, Database, datasets::DatasetRow};
use crate::error::{Error, Result};
use crate::storage::{ByteStream, ObjectKey};

/// The object key of a dataset's file as uploaded.
pub fn source_key(id: &str) -> ObjectKey {
    ObjectKey::new(format!("datasets/{id}/source")).expect("dataset ids are UUIDs")
}

/// Where one validation of a dataset stored its normalised splits. Each validation writes under a
/// prefix of its own and a task (or tournament) keeps the prefix it was created with, so nothing a
/// customer does to the dataset later changes or deletes the rows a task trains and is scored on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Splits(String);

impl Splits {
    /// A fresh prefix for a new validation of dataset `id`.
    pub fn fresh(id: &str) -> Splits {
        Splits(format!("datasets/{id}/splits/{}", uuid::Uuid::now_v7()))
    }

    /// The prefix a row recorded; splits written before prefixes existed lie under `datasets/ID`.
    pub fn stored(prefix: Option<String>, dataset_id: &str) -> Splits {
        Splits(prefix.unwrap_or_else(|| format!("datasets/{dataset_id}")))
    }

    pub fn prefix(&self) -> &str {
        &self.0
    }

    fn key(&self, name: &str) -> ObjectKey {
        ObjectKey::new(format!("{}/{name}", self.0)).expect("split prefixes are built from UUIDs")
    }

    /// The training rows, one JSON object per line (an image dataset's index of `train_images`).
    pub fn train(&self) -> ObjectKey {
        self.key("train.jsonl")
    }

    /// The secret test split. Only the evaluator reads it; no route returns it.
    pub fn test(&self) -> ObjectKey {
        self.key("test.jsonl")
    }

    /// An image dataset's training pairs.
    pub fn train_images(&self) -> ObjectKey {
        self.key("train.zip")
    }

    /// An image dataset's secret test pairs.
    pub fn test_images(&self) -> ObjectKey {
        self.key("test.zip")
    }

    /// Every object a validation may write under this prefix.
    pub fn all(&self) -> [ObjectKey; 4] {
        [
            self.train(),
            self.test(),
            self.train_images(),
            self.test_images(),
        ]
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DatasetState {
    /// Stored and inspected; waiting for a task type and mapping.
    Uploaded,
    Validating,
    /// Validated and split: usable for tasks.
    Ready,
    /// Validation found the dataset unusable; `error` says why.
    Refused,
    /// The owner's own test file for another dataset: its rows are secret from now on.
    HeldOut,
}

impl DatasetState {
    pub fn as_str(self) -> &'static str {
        match self {
            DatasetState::Uploaded => "uploaded",
            DatasetState::Validating => "validating",
            DatasetState::Ready => "ready",
            DatasetState::Refused => "refused",
            DatasetState::HeldOut => "held_out",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            Self::Uploaded,
            Self::Validating,
            Self::Ready,
            Self::Refused,
            Self::HeldOut,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Dataset {
    pub id: String,
    pub name: String,
    pub state: DatasetState,
    pub format: Format,
    pub size_bytes: i64,
    pub sha256: String,
    pub columns: Vec<String>,
    /// The file's first rows, shown while choosing a mapping. Empty once the dataset is split, so that
    /// no view of a dataset ever shows rows that may be in its secret test split.
    #[schema(value_type = Vec<Object>)]
    pub preview: Vec<Row>,
    /// A mapping guessed from the column names, per text task type.
    pub suggested_mappings: BTreeMap<TaskType, Mapping>,
    pub task_type: Option<TaskType>,
    pub mapping: Option<Mapping>,
    pub report: Option<Report>,
    pub error: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
    /// How far validation has read, in bytes of the file.
    pub validated_bytes: i64,
    /// The owner's dataset whose rows are the test split, when they gave their own.
    pub test_dataset_id: Option<String>,
    /// Where the latest validation stored the splits (a task created now keeps them).
    #[serde(skip)]
    pub splits: Splits,
}

fn corrupt(id: &str, what: &str) -> Error {
    Error::Internal(format!("dataset {id} has a malformed {what} column"))
}

impl TryFrom<DatasetRow> for Dataset {
    type Error = Error;

    fn try_from(row: DatasetRow) -> Result<Self> {
        let id = row.id.clone();
        let state = DatasetState::parse(&row.state).ok_or_else(|| corrupt(&id, "state"))?;
        let columns: Vec<String> =
            serde_json::from_str(&row.columns).map_err(|_| corrupt(&id, "columns"))?;
        let preview = if state == DatasetState::Uploaded {
            serde_json::from_str(&row.preview).map_err(|_| corrupt(&id, "preview"))?
        } else {
            Vec::new()
        };
        let suggested_mappings = [
            TaskType::Instruct,
            TaskType::Chat,
            TaskType::Dpo,
            TaskType::Grpo,
        ]
        .into_iter()
        .map(|t| (t, Mapping::suggest(t, &columns)))
        .collect();
        Ok(Dataset {
            format: serde_json::from_str(&row.format).map_err(|_| corrupt(&id, "format"))?,
            task_type: row.task_type.as_deref().and_then(TaskType::parse),
            mapping: parse_json(&id, row.mapping.as_deref(), "mapping")?,
            report: parse_json(&id, row.report.as_deref(), "report")?,
            id: row.id,
            name: row.name,
            state,
            size_bytes: row.size_bytes,
            sha256: row.sha256,
            columns,
            preview,
            suggested_mappings,
            error: row.error,
            created_at: row.created_at,
            updated_at: row.updated_at,
            validated_bytes: row.validated_bytes,
            splits: Splits::stored(row.splits_prefix, &id),
            test_dataset_id: row.test_dataset_id,
        })
    }
}

fn parse_json<T: serde::de::DeserializeOwned>(
    id: &str,
    text: Option<&str>,
    what: &str,
) -> Result<Option<T>> {
    text.map(|t| serde_json::from_str(t).map_err(|_| corrupt(id, what)))
        .transpose()
}

/// The owner's dataset `id`; another account's dataset is "not found", not "forbidden".
pub async fn get(db: &Database, owner: &User, id: &str) -> Result<Dataset> {
    match db::datasets::by_id(db.pool(), id).await? {
        Some(row) if row.owner_id == owner.id => row.try_into(),
        _ => Err(Error::NotFound("dataset")),
    }
}

/// The owner's dataset `id` as they uploaded it: its file's bytes, until validation splits it. From
/// then on the file holds rows of a secret test split (all of them, for an own test file), and no route
/// carries those, to its owner either: refused with the reason.
pub async fn source(platform: &Platform, owner: &User, id: &str) -> Result<(Dataset, ByteStream)> {
    let dataset = get(&platform.db, owner, id).await?;
    if !matches!(
        dataset.state,
        DatasetState::Uploaded | DatasetState::Refused
    ) {
        return Err(Error::Conflict {
            field: None,
            message: format!(
                "the file is {}: its rows hold a secret test split now, and no route returns them",
                dataset.state.as_str()
            ),
        });
    }
    let bytes = platform.store.get(&source_key(id)).await?;
    Ok((dataset, bytes))
}

/// Deletes the owner's dataset: it is gone from their lists and lookups and its uploaded file is removed.
/// Refused while it is being validated, or while a task, tournament or fine-tuning job that has not
/// ended uses it. Tasks that ended keep their own splits and what they recorded.
pub async fn delete(platform: &Platform, owner: &User, id: &str) -> Result<()> {
    get(&platform.db, owner, id).await?;
    if !db::datasets::delete(platform.db.pool(), id, &owner.id, now_ms()).await? {
        return Err(Error::Conflict {
            field: None,
            message:
                "the dataset is being validated, or a task, tournament or fine-tuning job that \
                      has not ended uses it; cancel it or wait until it has ended"
                    .into(),
        });
    }
    platform.store.delete(&source_key(id)).await?;
    Ok(())
}

pub async fn list(db: &Database, owner: &User) -> Result<Vec<Dataset>> {
    db::datasets::for_owner(db.pool(), &owner.id)
        .await?
        .into_iter()
        .map(Dataset::try_from)
        .collect()
}
