//! `/v1/fine_tuning/jobs`: a job is a competition. Its status is its task's state in OpenAI's words, its
//! events are its own and its task's, its checkpoints are the task's ranked submissions (`step_number` is
//! the rank, `full_valid_loss` the loss on the secret test split), and its `fine_tuned_model` is the
//! winning submission, downloaded from `GET /api/v1/tasks/{task_id}/result`.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use domain::fine_tuning::{self, Checkpoint, Job, JobEvent, Method, NewJob};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Cursor, Customer, List, OpenAiError, seconds};
use crate::http::endpoint::Endpoint;
use crate::http::state::AppState;

pub fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::post("/v1/fine_tuning/jobs", create),
        Endpoint::get("/v1/fine_tuning/jobs", list),
        Endpoint::get("/v1/fine_tuning/jobs/{id}", show),
        Endpoint::post("/v1/fine_tuning/jobs/{id}/cancel", cancel),
        Endpoint::get("/v1/fine_tuning/jobs/{id}/events", events),
        Endpoint::get("/v1/fine_tuning/jobs/{id}/checkpoints", checkpoints),
    ]
}

/// The request as OpenAI documents it, plus `hours_to_complete` (the training window; the shortest
/// the task type allows when none is given), which the SDK sends with `extra_body`.
#[derive(Deserialize)]
struct JobRequest {
    model: String,
    training_file: String,
    validation_file: Option<String>,
    method: Option<MethodRequest>,
    /// Deprecated by OpenAI in favour of `method`; recorded all the same.
    hyperparameters: Option<Value>,
    suffix: Option<String>,
    seed: Option<u64>,
    metadata: Option<BTreeMap<String, String>>,
    hours_to_complete: Option<u64>,
}

#[derive(Deserialize)]
struct MethodRequest {
    #[serde(rename = "type")]
    kind: String,
    supervised: Option<MethodSettings>,
    dpo: Option<MethodSettings>,
}

#[derive(Deserialize)]
struct MethodSettings {
    hyperparameters: Option<Value>,
}

async fn create(
    State(state): State<AppState>,
    Customer(user): Customer,
    body: Result<Json<JobRequest>, JsonRejection>,
) -> Result<Json<Value>, OpenAiError> {
    let Json(body) = body?;
    let (method, settings) = match &body.method {
        None => (Method::Supervised, None),
        Some(m) => match m.kind.as_str() {
            "supervised" => (Method::Supervised, m.supervised.as_ref()),
            "dpo" => (Method::Dpo, m.dpo.as_ref()),
            other => {
                return Err(OpenAiError::invalid(
                    "method.type",
                    format!("this server runs supervised and dpo jobs, not {other:?}: competing miners are scored by held-out loss"),
                ));
            }
        },
    };
    let hyperparameters = settings
        .and_then(|s| s.hyperparameters.clone())
        .or(body.hyperparameters)
        .unwrap_or_else(|| json!({}));
    let request = NewJob {
        model: body.model,
        training_file: body.training_file,
        validation_file: body.validation_file,
        method,
        hyperparameters,
        suffix: body.suffix,
        seed: body.seed,
        metadata: body.metadata,
        hours_to_complete: body.hours_to_complete,
    };
    let job = fine_tuning::create(&state.platform, &user, request).await?;
    Ok(Json(job_object(&job, &user.id)))
}

/// OpenAI's job object.
fn job_object(job: &Job, owner_id: &str) -> Value {
    let mut method = serde_json::Map::new();
    method.insert("type".into(), json!(job.method));
    method.insert(
        job.method.as_str().into(),
        json!({ "hyperparameters": job.hyperparameters }),
    );
    json!({
        "id": job.id,
        "object": "fine_tuning.job",
        "created_at": seconds(job.created_at),
        "error": job.error,
        "fine_tuned_model": job.fine_tuned_model,
        "finished_at": job.finished_at.map(seconds),
        "hyperparameters": job.hyperparameters,
        "model": job.model,
        "organization_id": format!("org-{owner_id}"),
        "result_files": [],
        "seed": job.seed,
        "status": job.status,
        "trained_tokens": null,
        "training_file": job.training_file,
        "validation_file": job.validation_file,
        "estimated_finish": job.estimated_finish.map(seconds),
        "integrations": [],
        "metadata": job.metadata,
        "method": method,
        "user_provided_suffix": job.suffix,
        // Crucible's own: the task the job runs as, and the kind of rows it trains on.
        "task_id": job.task_id,
        "task_type": job.task_type,
        "hours_to_complete": job.hours_to_complete,
    })
}

async fn list(
    State(state): State<AppState>,
    Customer(user): Customer,
    Query(cursor): Query<Cursor>,
) -> Result<Json<List<Value>>, OpenAiError> {
    let (jobs, has_more) = fine_tuning::list(
        &state.platform.db,
        &user,
        cursor.after.as_deref(),
        cursor.limit(20, 100),
    )
    .await?;
    let data = jobs.iter().map(|job| job_object(job, &user.id)).collect();
    Ok(Json(List::of((data, has_more))))
}

async fn show(
    State(state): State<AppState>,
    Customer(user): Customer,
    Path(id): Path<String>,
) -> Result<Json<Value>, OpenAiError> {
    let job = fine_tuning::get(&state.platform.db, &user, &id).await?;
    Ok(Json(job_object(&job, &user.id)))
}

async fn cancel(
    State(state): State<AppState>,
    Customer(user): Customer,
    Path(id): Path<String>,
) -> Result<Json<Value>, OpenAiError> {
    let job = fine_tuning::cancel(&state.platform.db, &user, &id).await?;
    Ok(Json(job_object(&job, &user.id)))
}

#[derive(Serialize)]
struct EventObject {
    id: String,
    object: &'static str,
    created_at: i64,
    level: fine_tuning::Level,
    message: String,
    #[serde(rename = "type")]
    kind: &'static str,
    data: Option<Value>,
}

impl From<JobEvent> for EventObject {
    fn from(event: JobEvent) -> Self {
        EventObject {
            id: event.id,
            object: "fine_tuning.job.event",
            created_at: seconds(event.at),
            level: event.level,
            message: event.message,
            kind: "message",
            data: None,
        }
    }
}

async fn events(
    State(state): State<AppState>,
    Customer(user): Customer,
    Path(id): Path<String>,
    Query(cursor): Query<Cursor>,
) -> Result<Json<List<EventObject>>, OpenAiError> {
    let (events, has_more) = fine_tuning::events(
        &state.platform.db,
        &user,
        &id,
        cursor.after.as_deref(),
        cursor.limit(20, 100),
    )
    .await?;
    let data = events.into_iter().map(EventObject::from).collect();
    Ok(Json(List::of((data, has_more))))
}

#[derive(Serialize)]
struct CheckpointObject {
    id: String,
    object: &'static str,
    created_at: i64,
    fine_tuned_model_checkpoint: String,
    fine_tuning_job_id: String,
    metrics: Value,
    step_number: u32,
}

fn checkpoint_object(checkpoint: Checkpoint, job_id: &str) -> CheckpointObject {
    CheckpointObject {
        id: format!("ftckpt-{}", checkpoint.submission_id),
        object: "fine_tuning.job.checkpoint",
        created_at: seconds(checkpoint.received_at),
        fine_tuned_model_checkpoint: checkpoint.submission_id,
        fine_tuning_job_id: job_id.to_string(),
        metrics: json!({ "full_valid_loss": checkpoint.loss, "step": checkpoint.rank }),
        step_number: checkpoint.rank,
    }
}

async fn checkpoints(
    State(state): State<AppState>,
    Customer(user): Customer,
    Path(id): Path<String>,
    Query(cursor): Query<Cursor>,
) -> Result<Json<List<CheckpointObject>>, OpenAiError> {
    // A checkpoint's id is `ftckpt-` and its submission's.
    let after = cursor
        .after
        .as_deref()
        .map(|a| a.strip_prefix("ftckpt-").unwrap_or(a));
    let (checkpoints, has_more) = fine_tuning::checkpoints(
        &state.platform.db,
        &user,
        &id,
        after,
        cursor.limit(10, 100),
    )
    .await?;
    let data = checkpoints
        .into_iter()
        .map(|c| checkpoint_object(c, &id))
        .collect();
    Ok(Json(List::of((data, has_more))))
}
