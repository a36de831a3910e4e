//! `/v1`: OpenAI's fine-tuning API, so that code written for the `openai` SDK runs a competition here by
//! changing `base_url`. Files are datasets and fine-tuning jobs become tasks (`domain::fine_tuning`);
//! errors have OpenAI's shape; the caller sends an API key as `Authorization: Bearer`, as the SDK does.
//! Times are Unix seconds, as OpenAI's are.

mod error;
mod files;
mod jobs;

use axum::extract::{FromRequestParts, OriginalUri};
use axum::http::request::Parts;
use axum::routing::{MethodRouter, any};
use domain::accounts::User;
use domain::clock::Millis;
use serde::{Deserialize, Serialize};

pub use error::{OpenAiError, OpenAiErrorBody};

use super::caller::Caller;
use super::endpoint::Endpoint;
use super::error::ApiError;
use super::state::AppState;

pub fn endpoints() -> Vec<Endpoint> {
    let mut endpoints = files::endpoints();
    endpoints.extend(jobs::endpoints());
    endpoints
}

/// The answer under `/v1/` where no endpoint is, in OpenAI's shape.
pub fn fallback() -> MethodRouter<AppState> {
    any(|OriginalUri(uri): OriginalUri| async move {
        OpenAiError::from(ApiError::not_found(format!(
            "there is no route at {}: this server offers /v1/files and /v1/fine_tuning/jobs",
            uri.path()
        )))
    })
}

/// The account calling, refused in OpenAI's shape.
pub struct Customer(pub User);

impl FromRequestParts<AppState> for Customer {
    type Rejection = OpenAiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, OpenAiError> {
        let Caller(user) = Caller::from_request_parts(parts, state).await?;
        Ok(Customer(user))
    }
}

/// The OpenAPI description of `/v1`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi;
    let mut doc = files::Doc::openapi();
    doc.merge(jobs::Doc::openapi());
    doc
}

/// A page of a list, as OpenAI's cursor pages are.
#[derive(Serialize, utoipa::ToSchema)]
struct List<T> {
    object: &'static str,
    data: Vec<T>,
    has_more: bool,
}

impl<T> List<T> {
    fn of((data, has_more): (Vec<T>, bool)) -> Self {
        List {
            object: "list",
            data,
            has_more,
        }
    }
}

/// `?after=` and `?limit=`, as every list takes them.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct Cursor {
    /// The id of the last item of the page before.
    after: Option<String>,
    /// How many items a page holds.
    limit: Option<usize>,
}

impl Cursor {
    /// The page size asked for, between 1 and `most` (`default` when none is given).
    fn limit(&self, default: usize, most: usize) -> usize {
        self.limit.unwrap_or(default).clamp(1, most)
    }
}

fn seconds(at: Millis) -> i64 {
    at.div_euclid(1000)
}
