//! The base-model catalogue: the models a task may start from, and each task type's window bounds.
//! Everyone reads it; admins add models, stop offering them, and set the bounds.

use serde::{Deserialize, Serialize};

use crate::accounts::User;
use crate::admin_log;
use crate::clock::now_ms;
use crate::datasets::TaskType;
use crate::db::{self, Database, models::ModelRow};
use crate::error::{Error, Result};
use crate::sandbox::Evaluator;

/// The longest window an admin may allow, in hours (a week).
pub const MAX_HOURS: u64 = 168;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BaseModel {
    /// The Hugging Face id.
    pub id: String,
    pub family: String,
    pub parameters: u64,
    pub task_types: Vec<TaskType>,
    /// Whether this deployment can score tasks on it (`judged`), and why not; absent where nobody
    /// asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluable: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_evaluable_because: Option<String>,
}

/// How long a task of one type may run, in hours.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Bounds {
    pub task_type: TaskType,
    pub min_hours: u64,
    pub max_hours: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Catalogue {
    pub models: Vec<BaseModel>,
    pub bounds: Vec<Bounds>,
}

fn corrupt(what: &str) -> Error {
    Error::Internal(format!("the catalogue has a malformed {what}"))
}

impl TryFrom<ModelRow> for BaseModel {
    type Error = Error;

    fn try_from(row: ModelRow) -> Result<BaseModel> {
        Ok(BaseModel {
            task_types: serde_json::from_str(&row.task_types)
                .map_err(|_| corrupt("task type list"))?,
            parameters: u64::try_from(row.parameters).unwrap_or(0),
            id: row.id,
            family: row.family,
            evaluable: None,
            not_evaluable_because: None,
        })
    }
}

/// What customers may choose from: the enabled models and the bounds.
pub async fn catalogue(db: &Database) -> Result<Catalogue> {
    let models = db::models::enabled(db.pool())
        .await?
        .into_iter()
        .map(BaseModel::try_from)
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

/// The catalogue with each model's `evaluable` said: what this deployment's evaluator can score.
pub async fn judged(db: &Database, evaluator: Option<&Evaluator>) -> Result<Catalogue> {
    let mut catalogue = catalogue(db).await?;
    for model in &mut catalogue.models {
        let answer = can_score(evaluator, &model.id);
        model.evaluable = Some(answer.is_ok());
        model.not_evaluable_because = answer.err();
    }
    Ok(catalogue)
}

/// Whether tasks on `model_id` can be scored here. A deployment without an evaluator scores nothing
/// (its tasks train and wait for one); with one, its `Evaluator::can_score`.
pub fn can_score(evaluator: Option<&Evaluator>, model_id: &str) -> std::result::Result<(), String> {
    match evaluator {
        None => Err(
            "this deployment has no evaluator yet: tasks train but wait to be scored until \
                     an operator configures one"
                .into(),
        ),
        Some(evaluator) => evaluator.can_score(model_id),
    }
}

/// Every model with whether it is offered for new tasks, for admins.
pub async fn all_models(db: &Database, admin: &User) -> Result<Vec<(BaseModel, bool)>> {
    admin.require_admin("change the model catalogue")?;
    db::models::all(db.pool())
        .await?
        .into_iter()
        .map(|row| {
            let enabled = row.enabled != 0;
            Ok((BaseModel::try_from(row)?, enabled))
        })
        .collect()
}

/// Adds a model to the catalogue, offered at once.
pub async fn add_model(db: &Database, admin: &User, model: BaseModel) -> Result<()> {
    admin.require_admin("change the model catalogue")?;
    let id = model.id.trim();
    let well_formed = id.split_once('/').is_some_and(|(owner, name)| {
        !owner.is_empty()
            && !name.is_empty()
            && !name.contains('/')
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c) || c == '/')
    });
    if !well_formed || id.len() > 200 {
        return Err(Error::invalid(
            "id",
            "give the Hugging Face id as owner/name, e.g. Qwen/Qwen2.5-0.5B-Instruct",
        ));
    }
    if model.family.trim().is_empty() {
        return Err(Error::invalid(
            "family",
            "name the model family, e.g. qwen2 or llama",
        ));
    }
    if model.parameters == 0 {
        return Err(Error::invalid(
            "parameters",
            "give the parameter count from the model card, e.g. 494032768",
        ));
    }
    if model.task_types.is_empty() {
        return Err(Error::invalid(
            "task_types",
            "choose at least one task type the model serves",
        ));
    }
    let row = ModelRow {
        id: id.to_string(),
        family: model.family.trim().to_string(),
        parameters: i64::try_from(model.parameters).unwrap_or(i64::MAX),
        task_types: serde_json::to_string(&model.task_types).expect("task types serialise"),
        enabled: 1,
    };
    let mut tx = db.pool().begin().await?;
    if !db::models::insert(&mut *tx, &row, now_ms()).await? {
        return Err(Error::Conflict {
            field: Some("id"),
            message: format!("{id} is in the catalogue already"),
        });
    }
    let detail = format!(
        "{} parameters, family {}, for {}",
        row.parameters, row.family, row.task_types
    );
    admin_log::record(&mut *tx, &admin.email, "add_model", id, &detail).await?;
    tx.commit().await?;
    Ok(())
}

/// Offers the model for new tasks again, or stops offering it (tasks already made keep it).
pub async fn set_enabled(db: &Database, admin: &User, id: &str, enabled: bool) -> Result<()> {
    admin.require_admin("change the model catalogue")?;
    let mut tx = db.pool().begin().await?;
    if !db::models::set_enabled(&mut *tx, id, enabled).await? {
        return Err(Error::NotFound("model"));
    }
    let action = if enabled {
        "offer_model"
    } else {
        "withdraw_model"
    };
    admin_log::record(&mut *tx, &admin.email, action, id, "").await?;
    tx.commit().await?;
    Ok(())
}

/// Sets how long tasks of one type may run.
pub async fn set_bounds(db: &Database, admin: &User, bounds: Bounds) -> Result<()> {
    admin.require_admin("change the model catalogue")?;
    if bounds.min_hours == 0 || bounds.min_hours > bounds.max_hours || bounds.max_hours > MAX_HOURS
    {
        return Err(Error::invalid(
            "min_hours",
            format!("the bounds need 1 ≤ minimum ≤ maximum ≤ {MAX_HOURS} hours"),
        ));
    }
    let row = db::models::BoundsRow {
        task_type: bounds.task_type.as_str().to_string(),
        min_hours: bounds.min_hours as i64,
        max_hours: bounds.max_hours as i64,
    };
    let mut tx = db.pool().begin().await?;
    if !db::models::set_bounds(&mut *tx, &row).await? {
        return Err(Error::NotFound("task type"));
    }
    let detail = format!("{} to {} hours", row.min_hours, row.max_hours);
    admin_log::record(
        &mut *tx,
        &admin.email,
        "set_bounds",
        &row.task_type,
        &detail,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
