//! `/api/v1/datasets`: upload a file (the raw request body), see what was detected and suggested,
//! start validation with a task type and mapping, read the report. Never the test split.

use axum::Json;
use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::routing::{get, post};
use domain::datasets::{self, Dataset, Mapping, TaskType};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};

use crate::http::{ApiError, AppState, Caller};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/datasets", get(list).post(upload))
        .route("/datasets/{id}", get(show))
        .route("/datasets/{id}/validation", post(validate))
}

#[derive(Deserialize)]
struct UploadQuery {
    name: Option<String>,
}

async fn upload(
    State(state): State<AppState>,
    Caller(user): Caller,
    Query(query): Query<UploadQuery>,
    request: Request,
) -> Result<(StatusCode, Json<Dataset>), ApiError> {
    let name = query.name.ok_or_else(|| ApiError {
        field: Some("name"),
        ..ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "name the dataset: POST /api/v1/datasets?name=…",
        )
    })?;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let body = request
        .into_body()
        .into_data_stream()
        .map_err(std::io::Error::other);
    let dataset = datasets::upload(&state.platform, &user, &name, Box::pin(body), declared).await?;
    Ok((StatusCode::CREATED, Json(dataset)))
}

#[derive(Serialize)]
struct DatasetList {
    datasets: Vec<Dataset>,
}

async fn list(
    State(state): State<AppState>,
    Caller(user): Caller,
) -> Result<Json<DatasetList>, ApiError> {
    Ok(Json(DatasetList {
        datasets: datasets::list(&state.platform.db, &user).await?,
    }))
}

async fn show(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<Json<Dataset>, ApiError> {
    Ok(Json(datasets::get(&state.platform.db, &user, &id).await?))
}

#[derive(Deserialize)]
struct ValidationRequest {
    task_type: TaskType,
    mapping: Option<Mapping>,
    seed: Option<u64>,
}

async fn validate(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
    body: Result<Json<ValidationRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<Dataset>), ApiError> {
    let Json(body) = body?;
    let dataset = datasets::request_validation(
        &state.platform,
        &user,
        &id,
        body.task_type,
        body.mapping,
        body.seed,
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(dataset)))
}
