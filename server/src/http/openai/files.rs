//! `/v1/files`: a file is a dataset. Uploaded with `purpose=fine-tune`, it is stored and inspected
//! (`processed`), or refused with the reason (`error`); a job validates it for its method. Its content
//! goes back to its owner only, as they uploaded it, and only until a job splits it: then it holds rows
//! of a secret test split, which no route returns.

use axum::Json;
use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use domain::datasets::{self, Dataset, DatasetState};
use serde::{Deserialize, Serialize};

use super::{Cursor, Customer, List, OpenAiError, seconds};
use crate::http::api::upload_field;
use crate::http::endpoint::Endpoint;
use crate::http::state::AppState;
/// The OpenAPI description of this module's endpoints.
#[derive(utoipa::OpenApi)]
#[openapi(paths(upload, list, show, delete, content))]
pub(in crate::http) struct Doc;

pub fn endpoints() -> Vec<Endpoint> {
    vec![
        // Uploads are limited by the deployment's dataset limits, not axum's default for bodies.
        Endpoint::post("/v1/files", upload).unlimited_body(),
        Endpoint::get("/v1/files", list),
        Endpoint::get("/v1/files/{id}", show),
        Endpoint::delete("/v1/files/{id}", delete),
        Endpoint::get("/v1/files/{id}/content", content),
    ]
}

/// OpenAI's file object.
#[derive(Serialize, utoipa::ToSchema)]
struct FileObject {
    id: String,
    object: &'static str,
    bytes: i64,
    created_at: i64,
    filename: String,
    purpose: &'static str,
    /// `processed` once stored and read; `error` when refused (`status_details` says why).
    status: &'static str,
    status_details: Option<String>,
    expires_at: Option<i64>,
}

impl From<Dataset> for FileObject {
    fn from(dataset: Dataset) -> Self {
        let refused = dataset.state == DatasetState::Refused;
        FileObject {
            id: dataset.id,
            object: "file",
            bytes: dataset.size_bytes,
            created_at: seconds(dataset.created_at),
            filename: dataset.name,
            purpose: "fine-tune",
            status: if refused { "error" } else { "processed" },
            status_details: if refused { dataset.error } else { None },
            expires_at: None,
        }
    }
}

/// A multipart form with `purpose` (`fine-tune`) and `file`, as the SDK sends it.
#[utoipa::path(post, operation_id = "files_upload", path = "/v1/files", tag = "openai", request_body(content((Vec<u8> = "multipart/form-data")), description = "the fields `purpose` (`fine-tune`) and `file`"), responses((status = 200, description = "stored and read", body = FileObject), (status = "4XX", description = "refused, in OpenAI's shape", body = crate::http::openai::OpenAiErrorBody)), security(("api_key" = [])))]
async fn upload(
    State(state): State<AppState>,
    Customer(user): Customer,
    request: Request,
) -> Result<Json<FileObject>, OpenAiError> {
    let mut form = Multipart::from_request(request, &state)
        .await
        .map_err(|err| OpenAiError::invalid("file", err.body_text()))?;
    let mut purpose = None;
    loop {
        let field = form
            .next_field()
            .await
            .map_err(|err| {
                OpenAiError::invalid(
                    "file",
                    format!("the form is malformed: {}", err.body_text()),
                )
            })?
            .ok_or_else(|| {
                OpenAiError::invalid("file", "send the file in a form field named \"file\"")
            })?;
        match field.name() {
            Some("purpose") => {
                let text = field.text().await.map_err(|err| {
                    OpenAiError::invalid(
                        "purpose",
                        format!("the form is malformed: {}", err.body_text()),
                    )
                })?;
                purpose = Some(text);
            }
            Some("file") => {
                match purpose.as_deref() {
                    Some("fine-tune") => {}
                    Some(other) => {
                        return Err(OpenAiError::invalid(
                            "purpose",
                            format!(
                                "this server takes files for fine-tuning only (purpose \"fine-tune\"), not {other:?}"
                            ),
                        ));
                    }
                    None => {
                        return Err(OpenAiError::invalid(
                            "purpose",
                            "send purpose=fine-tune before the file",
                        ));
                    }
                }
                let name = field
                    .file_name()
                    .map(str::to_string)
                    .unwrap_or_else(|| "upload.jsonl".into());
                let dataset = upload_field(&state, &user, &name, true, field).await?;
                return Ok(Json(dataset.into()));
            }
            _ => continue,
        }
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct FileQuery {
    /// The id of the last file of the page before.
    after: Option<String>,
    /// How many files a page holds (10,000 by default).
    limit: Option<usize>,
    /// Only files of this purpose (all are `fine-tune`).
    purpose: Option<String>,
    /// `desc` (newest first, the default) or `asc`.
    order: Option<String>,
}

#[utoipa::path(get, operation_id = "files_list", path = "/v1/files", tag = "openai", params(FileQuery), responses((status = 200, description = "the caller's files", body = List<FileObject>), (status = "4XX", description = "refused, in OpenAI's shape", body = crate::http::openai::OpenAiErrorBody)), security(("api_key" = [])))]
async fn list(
    State(state): State<AppState>,
    Customer(user): Customer,
    Query(query): Query<FileQuery>,
) -> Result<Json<List<FileObject>>, OpenAiError> {
    let mut files: Vec<FileObject> = datasets::list(&state.platform.db, &user)
        .await?
        .into_iter()
        .filter(|d| d.format != datasets::Format::Zip)
        .map(FileObject::from)
        .collect();
    match query.order.as_deref() {
        None | Some("desc") => {}
        Some("asc") => files.reverse(),
        Some(other) => {
            return Err(OpenAiError::invalid(
                "order",
                format!("order is asc or desc, not {other:?}"),
            ));
        }
    }
    if query.purpose.as_deref().is_some_and(|p| p != "fine-tune") {
        files.clear();
    }
    let cursor = Cursor {
        after: query.after,
        limit: query.limit,
    };
    let start = cursor
        .after
        .as_deref()
        .and_then(|after| files.iter().position(|f| f.id == after))
        .map_or(0, |at| at + 1);
    let limit = cursor.limit(10_000, 10_000);
    let rest = files.len().saturating_sub(start);
    let page: Vec<FileObject> = files.into_iter().skip(start).take(limit).collect();
    Ok(Json(List::of((page, rest > limit))))
}

#[utoipa::path(get, operation_id = "files_show", path = "/v1/files/{id}", tag = "openai", params(("id" = String, Path, description = "its id")), responses((status = 200, description = "the file", body = FileObject), (status = "4XX", description = "refused, in OpenAI's shape", body = crate::http::openai::OpenAiErrorBody)), security(("api_key" = [])))]
async fn show(
    State(state): State<AppState>,
    Customer(user): Customer,
    Path(id): Path<String>,
) -> Result<Json<FileObject>, OpenAiError> {
    Ok(Json(
        datasets::get(&state.platform.db, &user, &id).await?.into(),
    ))
}

#[derive(Serialize, utoipa::ToSchema)]
struct Deleted {
    id: String,
    object: &'static str,
    deleted: bool,
}

#[utoipa::path(delete, operation_id = "files_delete", path = "/v1/files/{id}", tag = "openai", params(("id" = String, Path, description = "its id")), responses((status = 200, description = "deleted", body = Deleted), (status = "4XX", description = "refused, in OpenAI's shape", body = crate::http::openai::OpenAiErrorBody)), security(("api_key" = [])))]
async fn delete(
    State(state): State<AppState>,
    Customer(user): Customer,
    Path(id): Path<String>,
) -> Result<Json<Deleted>, OpenAiError> {
    datasets::dataset::delete(&state.platform, &user, &id).await?;
    Ok(Json(Deleted {
        id,
        object: "file",
        deleted: true,
    }))
}

/// The file as its owner uploaded it.
#[utoipa::path(get, operation_id = "files_content", path = "/v1/files/{id}/content", tag = "openai", params(("id" = String, Path, description = "its id")), responses((status = 200, description = "the file as uploaded, until a job splits it", body = Vec<u8>, content_type = "application/octet-stream"), (status = "4XX", description = "refused, in OpenAI's shape", body = crate::http::openai::OpenAiErrorBody)), security(("api_key" = [])))]
async fn content(
    State(state): State<AppState>,
    Customer(user): Customer,
    Path(id): Path<String>,
) -> Result<Response, OpenAiError> {
    let (dataset, bytes) = datasets::dataset::source(&state.platform, &user, &id).await?;
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_LENGTH, dataset.size_bytes.to_string()),
        ],
        Body::from_stream(bytes),
    )
        .into_response())
}
