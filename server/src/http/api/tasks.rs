//! `/api/v1/tasks`: a customer's fine-tuning tasks — see the plan, create, follow the events, cancel.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use domain::tasks::{self, Event, NewTask, RunBy, Task};
use serde::{Deserialize, Serialize};

use crate::http::caller::Caller;
use crate::http::endpoint::Endpoint;
use crate::http::error::ApiError;
use crate::http::state::AppState;
/// The OpenAPI description of this module's endpoints.
#[derive(utoipa::OpenApi)]
#[openapi(paths(list, create, show, events, cancel, submissions, result, stream))]
pub(in crate::http) struct Doc;

pub fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::get("/api/v1/tasks", list),
        Endpoint::post("/api/v1/tasks", create),
        Endpoint::get("/api/v1/tasks/{id}", show),
        Endpoint::get("/api/v1/tasks/{id}/events", events),
        Endpoint::post("/api/v1/tasks/{id}/cancel", cancel),
        Endpoint::get("/api/v1/tasks/{id}/submissions", submissions),
        Endpoint::get("/api/v1/tasks/{id}/result", result),
        Endpoint::get("/api/v1/tasks/{id}/stream", stream),
    ]
}

#[derive(Deserialize, utoipa::ToSchema)]
struct TaskBody {
    dataset_id: String,
    model_id: String,
    hours_to_complete: u64,
    /// `miners` (the default) or `champion`: the reigning tournament champion's recipe trains it.
    #[serde(default)]
    run_by: RunBy,
    /// GRPO only: the reward functions and weights the submissions are scored by.
    #[serde(default)]
    reward_functions: Option<Vec<tasks::RewardFunction>>,
    /// Only say what would happen (rows, window, pool), creating nothing.
    #[serde(default)]
    dry_run: bool,
}

#[utoipa::path(post, operation_id = "tasks_create", path = "/api/v1/tasks", tag = "tasks", request_body = TaskBody, responses((status = 201, description = "created (or, with `dry_run`, 200 and the plan: `TaskPlan`)", body = Task), (status = "4XX", description = "refused: `{\"error\": {\"code\", \"message\", \"field\"?}}`", body = crate::http::error::ErrorBody)), security(("api_key" = [])))]
async fn create(
    State(state): State<AppState>,
    Caller(user): Caller,
    body: Result<Json<TaskBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body?;
    let request = NewTask {
        dataset_id: body.dataset_id,
        model_id: body.model_id,
        hours_to_complete: body.hours_to_complete,
        run_by: body.run_by,
        reward_functions: body.reward_functions,
    };
    if body.dry_run {
        let plan = tasks::plan(&state.platform, &user, &request).await?;
        return Ok((StatusCode::OK, Json(plan)).into_response());
    }
    state.rate_limits.task_creation(&user.id)?;
    let task = tasks::create(&state.platform, &user, &request).await?;
    Ok((StatusCode::CREATED, Json(task)).into_response())
}

#[derive(Serialize, utoipa::ToSchema)]
struct TaskList {
    tasks: Vec<Task>,
}

#[utoipa::path(get, operation_id = "tasks_list", path = "/api/v1/tasks", tag = "tasks", responses((status = 200, description = "the caller's tasks", body = TaskList), (status = "4XX", description = "refused: `{\"error\": {\"code\", \"message\", \"field\"?}}`", body = crate::http::error::ErrorBody)), security(("api_key" = [])))]
async fn list(
    State(state): State<AppState>,
    Caller(user): Caller,
) -> Result<Json<TaskList>, ApiError> {
    Ok(Json(TaskList {
        tasks: tasks::list(&state.platform.db, &user).await?,
    }))
}

/// A task as its owner reads it: with its place in the work queue while it waits for a worker.
#[derive(Serialize, utoipa::ToSchema)]
struct TaskView {
    #[serde(flatten)]
    task: Task,
    queue_position: Option<u64>,
}

impl TaskView {
    async fn of(state: &AppState, task: Task) -> Result<TaskView, domain::Error> {
        let queue_position = domain::workers::queue_position(&state.platform.db, &task).await?;
        Ok(TaskView {
            task,
            queue_position,
        })
    }
}

#[utoipa::path(get, operation_id = "tasks_show", path = "/api/v1/tasks/{id}", tag = "tasks", params(("id" = String, Path, description = "its id")), responses((status = 200, description = "the task, with its place in the work queue", body = TaskView), (status = "4XX", description = "refused: `{\"error\": {\"code\", \"message\", \"field\"?}}`", body = crate::http::error::ErrorBody)), security(("api_key" = [])))]
async fn show(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<Json<TaskView>, ApiError> {
    let task = tasks::get(&state.platform.db, &user, &id).await?;
    Ok(Json(TaskView::of(&state, task).await?))
}

#[derive(Serialize, utoipa::ToSchema)]
struct EventList {
    events: Vec<Event>,
}

#[utoipa::path(get, operation_id = "tasks_events", path = "/api/v1/tasks/{id}/events", tag = "tasks", params(("id" = String, Path, description = "its id")), responses((status = 200, description = "every move of the task, with its reason", body = EventList), (status = "4XX", description = "refused: `{\"error\": {\"code\", \"message\", \"field\"?}}`", body = crate::http::error::ErrorBody)), security(("api_key" = [])))]
async fn events(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<Json<EventList>, ApiError> {
    Ok(Json(EventList {
        events: tasks::events(&state.platform.db, &user, &id).await?,
    }))
}

#[utoipa::path(post, operation_id = "tasks_cancel", path = "/api/v1/tasks/{id}/cancel", tag = "tasks", params(("id" = String, Path, description = "its id")), responses((status = 200, description = "cancelled", body = Task), (status = "4XX", description = "refused: `{\"error\": {\"code\", \"message\", \"field\"?}}`", body = crate::http::error::ErrorBody)), security(("api_key" = [])))]
async fn cancel(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<Json<Task>, ApiError> {
    Ok(Json(tasks::cancel(&state.platform.db, &user, &id).await?))
}

/// The task's submissions, ranked, with their evaluations and scores (never any data).
#[utoipa::path(get, operation_id = "tasks_submissions", path = "/api/v1/tasks/{id}/submissions", tag = "tasks", params(("id" = String, Path, description = "its id")), responses((status = 200, description = "ranked submissions with their scores", body = tasks::result::Submissions), (status = "4XX", description = "refused: `{\"error\": {\"code\", \"message\", \"field\"?}}`", body = crate::http::error::ErrorBody)), security(("api_key" = [])))]
async fn submissions(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<Json<tasks::result::Submissions>, ApiError> {
    Ok(Json(
        tasks::result::submissions(&state.platform.db, &user, &id).await?,
    ))
}

/// The winning model (a tar of a Hugging Face layout directory), streamed, with its SHA-256.
#[utoipa::path(get, operation_id = "tasks_result", path = "/api/v1/tasks/{id}/result", tag = "tasks", params(("id" = String, Path, description = "its id")), responses((status = 200, description = "the winning model, a tar with `X-Artifact-SHA256`", body = Vec<u8>, content_type = "application/x-tar"), (status = "4XX", description = "refused: `{\"error\": {\"code\", \"message\", \"field\"?}}`", body = crate::http::error::ErrorBody)), security(("api_key" = [])))]
async fn result(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (sha256, size, stream) = tasks::result::winning_model(&state.platform, &user, &id).await?;
    let headers = [
        (
            axum::http::header::CONTENT_TYPE,
            "application/x-tar".to_string(),
        ),
        (axum::http::header::CONTENT_LENGTH, size.to_string()),
        (
            axum::http::header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"task-{id}-winner.tar\""),
        ),
        (
            axum::http::header::HeaderName::from_static("x-artifact-sha256"),
            sha256,
        ),
    ];
    Ok((headers, axum::body::Body::from_stream(stream)).into_response())
}

/// How often a stream looks at its task.
const STREAM_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// The task and its events now, as JSON, and whether it has ended.
async fn snapshot(
    state: &AppState,
    user: &domain::accounts::User,
    id: &str,
) -> Option<(String, bool)> {
    let task = tasks::get(&state.platform.db, user, id).await.ok()?;
    let events = tasks::events(&state.platform.db, user, id).await.ok()?;
    let submissions = tasks::result::submissions(&state.platform.db, user, id)
        .await
        .ok()?;
    let ended = task.state.is_terminal();
    let task = TaskView::of(state, task).await.ok()?;
    let json =
        serde_json::json!({"task": task, "events": events, "submissions": submissions.submissions, "base_loss": submissions.base_loss}).to_string();
    Some((json, ended))
}

/// Server-sent events: an `event: task` with the task, its events and its submissions whenever they
/// change (looked at every 500 ms), ending once the task has ended.
#[utoipa::path(get, operation_id = "tasks_stream", path = "/api/v1/tasks/{id}/stream", tag = "tasks", params(("id" = String, Path, description = "its id")), responses((status = 200, description = "server-sent events: `event: task` with the task and its events on every change", body = String, content_type = "text/event-stream"), (status = "4XX", description = "refused: `{\"error\": {\"code\", \"message\", \"field\"?}}`", body = crate::http::error::ErrorBody)), security(("api_key" = [])))]
async fn stream(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<
    axum::response::sse::Sse<
        impl futures::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>,
    >,
    ApiError,
> {
    use axum::response::sse::{Event, KeepAlive, Sse};
    tasks::get(&state.platform.db, &user, &id).await?;
    let slot = state.stream_slots.take(&user.id).ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "this account has {} task streams open already; close one first",
                crate::http::stream_slots::PER_ACCOUNT
            ),
        )
    })?;
    let updates = futures::stream::unfold(
        (state, user, id, None::<String>, false, slot),
        |(state, user, id, last, ended, slot)| async move {
            if ended {
                return None;
            }
            loop {
                let (json, ended) = snapshot(&state, &user, &id).await?;
                if last.as_deref() != Some(json.as_str()) {
                    let event = Event::default().event("task").data(json.clone());
                    return Some((Ok(event), (state, user, id, Some(json), ended, slot)));
                }
                tokio::time::sleep(STREAM_EVERY).await;
            }
        },
    );
    Ok(Sse::new(updates).keep_alive(KeepAlive::default()))
}
