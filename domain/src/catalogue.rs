//! The base-model catalogue: the models a task may start from, and each task type's window bounds.

use serde::{Deserialize, Serialize};

use crate::datasets::TaskType;
use crate::db::{self, Database};
use crate::error::{Error, Result};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BaseModel {
    /// The Hugging Face id.
    pub id: String,
    pub family: String,
    pub parameters: u64,
    pub task_types: Vec<TaskType>,
}

/// How long a task of one type may run, in hours.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bounds {
    pub task_type: TaskType,
    pub min_hours: u64,
    pub max_hours: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Catalogue {
    pub models: Vec<BaseModel>,
    pub bounds: Vec<Bounds>,
}

pub async fn catalogue(db: &Database) -> Result<Catalogue> {
    let corrupt = |what: &str| Error::Internal(format!("the catalogue has a malformed {what}"));
    let models = db::models::enabled(db.pool())
        .await?
        .into_iter()
        .map(|row| {
            Ok(BaseModel {
                task_types: serde_json::from_str(&row.task_types)
                    .map_err(|_| corrupt("task type list"))?,
                parameters: u64::try_from(row.parameters).unwrap_or(0),
                id: row.id,
                family: row.family,
            })
        })
        .collect::<Result<_>>()?;
    let bounds = db::models::bounds(db.pool())
        .await?
        .into_iter()
        .map(|row| {
            Ok(Bounds {
                task_type: TaskType::parse(&row.task_type).ok_or_else(|| corrupt("task type"))?,
                min_hours: u64::try_from(row.min_hours).unwrap_or(0),
                max_hours: u64::try_from(row.max_hours).unwrap_or(0),
            })
        })
        .collect::<Result<_>>()?;
    Ok(Catalogue { models, bounds })
}
