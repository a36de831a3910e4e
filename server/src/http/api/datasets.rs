//! `/api/v1/datasets`: upload a file (the raw request body or a multipart form), see what was detected and suggested,
//! start validation with a task type and mapping, read the report. Never the test split.

use axum::Json;
use axum::extract::multipart::MultipartError;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use domain::accounts::User;
use domain::datasets::{self, Dataset, Mapping, TaskType, ValidationRequest};
use futures::{SinkExt, StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use crate::http::caller::Caller;
use crate::http::endpoint::Endpoint;
use crate::http::error::ApiError;
use crate::http::state::AppState;
/// The OpenAPI description of this module's endpoints.
#[derive(utoipa::OpenApi)]
#[openapi(paths(list, upload, show, validate))]
pub(in crate::http) struct Doc;

pub fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::get("/api/v1/datasets", list),
        // Uploads are limited by the deployment's dataset limits, not axum's default for bodies.
        Endpoint::post("/api/v1/datasets", upload).unlimited_body(),
        Endpoint::get("/api/v1/datasets/{id}", show),
        Endpoint::post("/api/v1/datasets/{id}/validation", validate),
    ]
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct UploadQuery {
    name: Option<String>,
    /// `false` for a CSV file whose first row is data, not a header.
    has_header: Option<bool>,
}

/// The file is the raw request body (`?name=` names it), or the field `file` of a multipart form (with
/// optional fields `name` and `has_header` before it; the file's own name otherwise).
#[utoipa::path(post, operation_id = "datasets_upload", path = "/api/v1/datasets", tag = "datasets", params(UploadQuery), request_body(content((Vec<u8> = "application/octet-stream"), (Vec<u8> = "multipart/form-data")), description = "the file as the raw body (`?name=` names it), or the field `file` of a multipart form"), responses((status = 201, description = "stored and inspected", body = Dataset), (status = "4XX", description = "refused: `{\"error\": {\"code\", \"message\", \"field\"?}}`", body = crate::http::error::ErrorBody)), security(("api_key" = [])))]
async fn upload(
    State(state): State<AppState>,
    Caller(user): Caller,
    Query(query): Query<UploadQuery>,
    request: Request,
) -> Result<(StatusCode, Json<Dataset>), ApiError> {
    let is_multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if is_multipart {
        let multipart = Multipart::from_request(request, &state)
            .await
            .map_err(|err| invalid("file", err.body_text()))?;
        let has_header = query.has_header.unwrap_or(true);
        return upload_multipart(&state, &user, query.name, has_header, multipart).await;
    }
    let name = query.name.ok_or_else(|| {
        invalid(
            "name",
            "name the dataset: POST /api/v1/datasets?name=…".into(),
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
    let has_header = query.has_header.unwrap_or(true);
    let dataset = datasets::upload(
        &state.platform,
        &user,
        &name,
        Box::pin(body),
        declared,
        has_header,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(dataset)))
}

async fn upload_multipart(
    state: &AppState,
    user: &User,
    mut name: Option<String>,
    mut has_header: bool,
    mut multipart: Multipart,
) -> Result<(StatusCode, Json<Dataset>), ApiError> {
    let malformed = |err: MultipartError| {
        invalid(
            "file",
            format!("the form is malformed: {}", err.body_text()),
        )
    };
    loop {
        let Some(field) = multipart.next_field().await.map_err(malformed)? else {
            return Err(invalid(
                "file",
                "send the dataset in a form field named \"file\"".into(),
            ));
        };
        match field.name() {
            Some("name") => name = Some(field.text().await.map_err(malformed)?),
            Some("has_header") => {
                let text = field.text().await.map_err(malformed)?;
                has_header = match text.trim() {
                    "true" | "" => true,
                    "false" => false,
                    other => {
                        let why = format!("has_header is true or false, not {other:?}");
                        return Err(invalid("has_header", why));
                    }
                };
            }
            Some("file") => {
                let name = name
                    .or_else(|| field.file_name().map(str::to_string))
                    .ok_or_else(|| {
                        invalid(
                            "name",
                            "name the dataset: a \"name\" field before \"file\"".into(),
                        )
                    })?;
                let dataset = upload_field(state, user, &name, has_header, field).await?;
                return Ok((StatusCode::CREATED, Json(dataset)));
            }
            _ => continue,
        }
    }
}

/// Stores the file a multipart form's `field` carries as the dataset `name`.
pub(in crate::http) async fn upload_field(
    state: &AppState,
    user: &User,
    name: &str,
    has_header: bool,
    mut field: axum::extract::multipart::Field<'_>,
) -> Result<Dataset, ApiError> {
    // The field borrows the form, so its chunks are forwarded to the upload, which needs a stream of
    // its own; both run in this task.
    let (mut sender, receiver) = futures::channel::mpsc::channel(4);
    let forward = async move {
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(std::io::Error::other);
            if sender.send(chunk).await.is_err() {
                return;
            }
        }
    };
    let body = Box::pin(receiver);
    let upload = datasets::upload(&state.platform, user, name, body, None, has_header);
    let ((), dataset) = tokio::join!(forward, upload);
    Ok(dataset?)
}

fn invalid(field: &'static str, message: String) -> ApiError {
    ApiError {
        field: Some(field),
        ..ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
    }
}

#[derive(Serialize, utoipa::ToSchema)]
struct DatasetList {
    datasets: Vec<Dataset>,
}

#[utoipa::path(get, operation_id = "datasets_list", path = "/api/v1/datasets", tag = "datasets", responses((status = 200, description = "the caller's datasets", body = DatasetList), (status = "4XX", description = "refused: `{\"error\": {\"code\", \"message\", \"field\"?}}`", body = crate::http::error::ErrorBody)), security(("api_key" = [])))]
async fn list(
    State(state): State<AppState>,
    Caller(user): Caller,
) -> Result<Json<DatasetList>, ApiError> {
    Ok(Json(DatasetList {
        datasets: datasets::list(&state.platform.db, &user).await?,
    }))
}

#[utoipa::path(get, operation_id = "datasets_show", path = "/api/v1/datasets/{id}", tag = "datasets", params(("id" = String, Path, description = "its id")), responses((status = 200, description = "the dataset; never its test split", body = Dataset), (status = "4XX", description = "refused: `{\"error\": {\"code\", \"message\", \"field\"?}}`", body = crate::http::error::ErrorBody)), security(("api_key" = [])))]
async fn show(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<Json<Dataset>, ApiError> {
    Ok(Json(datasets::get(&state.platform.db, &user, &id).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct ValidationBody {
    task_type: TaskType,
    mapping: Option<Mapping>,
    seed: Option<u64>,
    test_dataset_id: Option<String>,
}

#[utoipa::path(post, operation_id = "datasets_validate", path = "/api/v1/datasets/{id}/validation", tag = "datasets", params(("id" = String, Path, description = "its id")), request_body = ValidationBody, responses((status = 202, description = "validation started", body = Dataset), (status = "4XX", description = "refused: `{\"error\": {\"code\", \"message\", \"field\"?}}`", body = crate::http::error::ErrorBody)), security(("api_key" = [])))]
async fn validate(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
    body: Result<Json<ValidationBody>, JsonRejection>,
) -> Result<(StatusCode, Json<Dataset>), ApiError> {
    let Json(body) = body?;
    let request = ValidationRequest {
        task_type: body.task_type,
        mapping: body.mapping,
        seed: body.seed,
        test_dataset_id: body.test_dataset_id,
    };
    let dataset =
        datasets::request_validation(&state.platform.ingest(), &user, &id, request).await?;
    Ok((StatusCode::ACCEPTED, Json(dataset)))
}
