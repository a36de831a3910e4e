//! Signed links to objects in the local store (`/objects/KEY?access=…&expires=…&signature=…`): the
//! embedded counterpart of S3's presigned URLs. A link grants exactly the access it names, until it expires.

use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::response::{IntoResponse, Response};
use domain::storage::{LinkAccess, LinkError, ObjectKey, StorageError};
use futures::TryStreamExt;
use serde::Deserialize;
use serde_json::json;

use super::endpoint::Endpoint;
use super::error::ApiError;
use super::state::AppState;

pub fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::get("/objects/{*key}", read),
        Endpoint::put("/objects/{*key}", write).unlimited_body(),
    ]
}

#[derive(Deserialize)]
struct Link {
    access: String,
    expires: i64,
    signature: String,
}

fn check(
    state: &AppState,
    key: &str,
    link: &Link,
    access: LinkAccess,
) -> Result<ObjectKey, ApiError> {
    let key = ObjectKey::new(key).map_err(|_| ApiError::not_found("no object at this link"))?;
    if link.access != access.as_str() {
        return Err(ApiError::forbidden(format!(
            "this link grants {} access only",
            link.access
        )));
    }
    state
        .links
        .verify(&key, access, link.expires, &link.signature)
        .map_err(|err| match err {
            LinkError::Expired => ApiError::forbidden(err.to_string()),
            LinkError::BadSignature => ApiError::forbidden(err.to_string()),
        })?;
    Ok(key)
}

fn storage_error(err: StorageError) -> ApiError {
    match err {
        StorageError::NotFound(_) => ApiError::not_found("no object at this link"),
        other => ApiError::internal(other),
    }
}

async fn read(
    State(state): State<AppState>,
    Path(key): Path<String>,
    Query(link): Query<Link>,
) -> Result<Response, ApiError> {
    let key = check(&state, &key, &link, LinkAccess::Read)?;
    let stream = state
        .platform
        .store
        .get(&key)
        .await
        .map_err(storage_error)?;
    Ok(Body::from_stream(stream).into_response())
}

async fn write(
    State(state): State<AppState>,
    Path(key): Path<String>,
    Query(link): Query<Link>,
    request: Request,
) -> Result<Response, ApiError> {
    let key = check(&state, &key, &link, LinkAccess::Write)?;
    let body = request
        .into_body()
        .into_data_stream()
        .map_err(std::io::Error::other);
    let stored = state
        .platform
        .store
        .put(&key, Box::pin(body))
        .await
        .map_err(storage_error)?;
    Ok(axum::Json(json!({ "size": stored.size, "sha256": stored.sha256 })).into_response())
}
