//! `/v1/fine_tuning/jobs`: a job is a competition. Its status is its task's state in OpenAI's words, its
//! events are its own and its task's, its checkpoints are the task's ranked submissions (`step_number` is
//! the rank, `full_valid_loss` the loss on the secret test split), and its `fine_tuned_model` is the
//! winning submission, downloaded from `GET /api/v1/tasks/{task_id}/result`.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use domain::datasets::TaskType;
use domain::fine_tuning::{self, Checkpoint, Job, JobError, JobEvent, Method, NewJob, Status};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Cursor, Customer, List, OpenAiError, seconds};
use crate::http::endpoint::Endpoint;
use crate::http::state::AppState;
/// The OpenAPI description of this module's endpoints.
#[derive(utoipa::OpenApi)]
#[openapi(paths(create, list, show, cancel, events, checkpoints))]
pub(in crate::http) struct Doc;

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
#[derive(Deserialize, utoipa::ToSchema)]
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

#[derive(Deserialize, utoipa::ToSchema)]
struct MethodRequest {
    #[serde(rename = "type")]
    kind: String,
    supervised: Option<MethodSettings>,
    dpo: Option<MethodSettings>,
}

#[derive(Deserialize, utoipa::ToSchema)]
struct MethodSettings {
    hyperparameters: Option<Value>,
}

#[utoipa::path(post, operation_id = "jobs_create", path = "/v1/fine_tuning/jobs", tag = "openai", request_body = JobRequest, responses((status = 200, description = "created: `validating_files`", body = JobObject), (status = "4XX", description = "refused, in OpenAI's shape", body = crate::http::openai::OpenAiErrorBody)), security(("api_key" = [])))]
async fn create(
    State(state): State<AppState>,
    Customer(user): Customer,
    body: Result<Json<JobRequest>, JsonRejection>,
) -> Result<Json<JobObject>, OpenAiError> {
    let Json(body) = body?;
    let (method, settings) = match &body.method {
        None => (Method::Supervised, None),
        Some(m) => match m.kind.as_str() {
            "supervised" => (Method::Supervised, m.supervised.as_ref()),
            "dpo" => (Method::Dpo, m.dpo.as_ref()),
            other => {
                return Err(OpenAiError::invalid(
                    "method.type",
                    format!(
                        "this server runs supervised and dpo jobs, not {other:?}: competing miners are scored by held-out loss"
                    ),
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
    // A job makes a task: held to the same per-account limit as creating one directly.
    state.rate_limits.task_creation(&user.id)?;
    let job = fine_tuning::create(&state.platform, &user, request).await?;
    Ok(Json(job_object(&job, &user.id)))
}

/// OpenAI's job object, with Crucible's own `task_id`, `task_type` and `hours_to_complete`.
#[derive(Serialize, utoipa::ToSchema)]
struct JobObject {
    id: String,
    object: &'static str,
    created_at: i64,
    error: Option<JobError>,
    /// The winning submission's id, once the job succeeded.
    fine_tuned_model: Option<String>,
    finished_at: Option<i64>,
    /// As sent: recorded, not applied (each miner trains with its own recipe).
    hyperparameters: Value,
    model: String,
    organization_id: String,
    result_files: Vec<String>,
    seed: u64,
    status: Status,
    trained_tokens: Option<u64>,
    training_file: String,
    validation_file: Option<String>,
    /// The training window's deadline.
    estimated_finish: Option<i64>,
    integrations: Vec<Value>,
    metadata: Option<BTreeMap<String, String>>,
    /// `{"type": …, "<type>": {"hyperparameters": …}}`.
    method: Value,
    user_provided_suffix: Option<String>,
    /// The task the job runs as.
    task_id: String,
    task_type: TaskType,
    hours_to_complete: u64,
}

fn job_object(job: &Job, owner_id: &str) -> JobObject {
    let mut method = serde_json::Map::new();
    method.insert("type".into(), json!(job.method));
    method.insert(
        job.method.as_str().into(),
        json!({ "hyperparameters": job.hyperparameters }),
    );
    JobObject {
        id: job.id.clone(),
        object: "fine_tuning.job",
        created_at: seconds(job.created_at),
        error: job.error.clone(),
        fine_tuned_model: job.fine_tuned_model.clone(),
        finished_at: job.finished_at.map(seconds),
        hyperparameters: job.hyperparameters.clone(),
        model: job.model.clone(),
        organization_id: format!("org-{owner_id}"),
        result_files: Vec::new(),
        seed: job.seed,
        status: job.status,
        trained_tokens: None,
        training_file: job.training_file.clone(),
        validation_file: job.validation_file.clone(),
        estimated_finish: job.estimated_finish.map(seconds),
        integrations: Vec::new(),
        metadata: job.metadata.clone(),
        method: Value::Object(method),
        user_provided_suffix: job.suffix.clone(),
        task_id: job.task_id.clone(),
        task_type: job.task_type,
        hours_to_complete: job.hours_to_complete,
    }
}

#[utoipa::path(get, operation_id = "jobs_list", path = "/v1/fine_tuning/jobs", tag = "openai", params(Cursor), responses((status = 200, description = "the caller's jobs, newest first", body = List<JobObject>), (status = "4XX", description = "refused, in OpenAI's shape", body = crate::http::openai::OpenAiErrorBody)), security(("api_key" = [])))]
async fn list(
    State(state): State<AppState>,
    Customer(user): Customer,
    Query(cursor): Query<Cursor>,
) -> Result<Json<List<JobObject>>, OpenAiError> {
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

#[utoipa::path(get, operation_id = "jobs_show", path = "/v1/fine_tuning/jobs/{id}", tag = "openai", params(("id" = String, Path, description = "its id")), responses((status = 200, description = "the job", body = JobObject), (status = "4XX", description = "refused, in OpenAI's shape", body = crate::http::openai::OpenAiErrorBody)), security(("api_key" = [])))]
async fn show(
    State(state): State<AppState>,
    Customer(user): Customer,
    Path(id): Path<String>,
) -> Result<Json<JobObject>, OpenAiError> {
    let job = fine_tuning::get(&state.platform.db, &user, &id).await?;
    Ok(Json(job_object(&job, &user.id)))
}

#[utoipa::path(post, operation_id = "jobs_cancel", path = "/v1/fine_tuning/jobs/{id}/cancel", tag = "openai", params(("id" = String, Path, description = "its id")), responses((status = 200, description = "cancelled", body = JobObject), (status = "4XX", description = "refused, in OpenAI's shape", body = crate::http::openai::OpenAiErrorBody)), security(("api_key" = [])))]
async fn cancel(
    State(state): State<AppState>,
    Customer(user): Customer,
    Path(id): Path<String>,
) -> Result<Json<JobObject>, OpenAiError> {
    let job = fine_tuning::cancel(&state.platform.db, &user, &id).await?;
    Ok(Json(job_object(&job, &user.id)))
}

#[derive(Serialize, utoipa::ToSchema)]
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

#[utoipa::path(get, operation_id = "jobs_events", path = "/v1/fine_tuning/jobs/{id}/events", tag = "openai", params(("id" = String, Path, description = "its id"), Cursor), responses((status = 200, description = "the job's and its task's events, newest first", body = List<EventObject>), (status = "4XX", description = "refused, in OpenAI's shape", body = crate::http::openai::OpenAiErrorBody)), security(("api_key" = [])))]
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

#[derive(Serialize, utoipa::ToSchema)]
struct CheckpointObject {
    id: String,
    object: &'static str,
    created_at: i64,
    /// The submission's id.
    fine_tuned_model_checkpoint: String,
    fine_tuning_job_id: String,
    metrics: CheckpointMetrics,
    /// The submission's rank.
    step_number: u32,
}

#[derive(Serialize, utoipa::ToSchema)]
struct CheckpointMetrics {
    /// The loss on the secret test split.
    full_valid_loss: Option<f64>,
    step: u32,
}

fn checkpoint_object(checkpoint: Checkpoint, job_id: &str) -> CheckpointObject {
    CheckpointObject {
        id: format!("ftckpt-{}", checkpoint.submission_id),
        object: "fine_tuning.job.checkpoint",
        created_at: seconds(checkpoint.received_at),
        fine_tuned_model_checkpoint: checkpoint.submission_id,
        fine_tuning_job_id: job_id.to_string(),
        metrics: CheckpointMetrics {
            full_valid_loss: checkpoint.loss,
            step: checkpoint.rank,
        },
        step_number: checkpoint.rank,
    }
}

#[utoipa::path(get, operation_id = "jobs_checkpoints", path = "/v1/fine_tuning/jobs/{id}/checkpoints", tag = "openai", params(("id" = String, Path, description = "its id"), Cursor), responses((status = 200, description = "each scored submission, best first", body = List<CheckpointObject>), (status = "4XX", description = "refused, in OpenAI's shape", body = crate::http::openai::OpenAiErrorBody)), security(("api_key" = [])))]
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
    let (checkpoints, has_more) =
        fine_tuning::checkpoints(&state.platform.db, &user, &id, after, cursor.limit(10, 100))
            .await?;
    let data = checkpoints
        .into_iter()
        .map(|c| checkpoint_object(c, &id))
        .collect();
    Ok(Json(List::of((data, has_more))))
}
