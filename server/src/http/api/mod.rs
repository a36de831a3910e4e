//! The JSON API under `/api/v1`: the caller's account and API keys here, datasets in their own module.

mod datasets;
mod miners;
mod scores;
mod tasks;
mod tournaments;
mod webhooks;

pub(in crate::http) use datasets::upload_field;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::routing::{MethodRouter, any};
use domain::accounts::{self, ApiKey};
use serde::{Deserialize, Serialize};

use super::caller::Caller;
use super::endpoint::Endpoint;
use super::error::ApiError;
use super::state::AppState;
/// The OpenAPI description of this module's endpoints.
#[derive(utoipa::OpenApi)]
#[openapi(paths(account, list_keys, create_key, revoke_key, models))]
pub(in crate::http) struct Doc;

pub fn endpoints() -> Vec<Endpoint> {
    let mut endpoints = vec![
        Endpoint::get("/api/v1/account", account),
        Endpoint::get("/api/v1/api-keys", list_keys),
        Endpoint::post("/api/v1/api-keys", create_key),
        Endpoint::delete("/api/v1/api-keys/{id}", revoke_key),
        Endpoint::get("/api/v1/models", models),
    ];
    endpoints.extend(datasets::endpoints());
    endpoints.extend(tasks::endpoints());
    endpoints.extend(scores::endpoints());
    endpoints.extend(webhooks::endpoints());
    endpoints.extend(tournaments::endpoints());
    endpoints
}

/// The OpenAPI description of `/api/v1`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi;
    let mut doc = Doc::openapi();
    for part in [
        datasets::Doc::openapi(),
        tasks::Doc::openapi(),
        scores::Doc::openapi(),
        webhooks::Doc::openapi(),
        tournaments::Doc::openapi(),
        miners::Doc::openapi(),
    ] {
        doc.merge(part);
    }
    doc
}

/// The miner API (`/api/v1/miner/…`), signed by hotkeys rather than sessions or keys.
pub fn miner_endpoints() -> Vec<Endpoint> {
    miners::endpoints()
}

/// The answer under `/api/v1/` where no endpoint is: JSON, like every API answer.
pub fn fallback() -> MethodRouter<AppState> {
    any(no_such_route)
}

/// The base models a task may start from, each with whether this deployment can score it, and each
/// task type's bounds in hours.
#[utoipa::path(get, operation_id = "api_models", path = "/api/v1/models", tag = "models", responses((status = 200, description = "the base models a task may start from, and each task type's bounds in hours", body = domain::catalogue::Catalogue), (status = "4XX", description = "refused: `{\"error\": {\"code\", \"message\", \"field\"?}}`", body = crate::http::error::ErrorBody)), security(("api_key" = [])))]
async fn models(
    State(state): State<AppState>,
    Caller(_): Caller,
) -> Result<Json<domain::catalogue::Catalogue>, ApiError> {
    let evaluator = state.platform.evaluator.as_ref();
    Ok(Json(
        domain::catalogue::judged(&state.platform.db, evaluator).await?,
    ))
}

/// The caller's account.
#[derive(Serialize, utoipa::ToSchema)]
struct AccountView {
    id: String,
    email: String,
    role: domain::accounts::Role,
    created_at: domain::clock::Millis,
}

#[utoipa::path(get, operation_id = "api_account", path = "/api/v1/account", tag = "account", responses((status = 200, description = "the caller's account", body = AccountView), (status = "4XX", description = "refused: `{\"error\": {\"code\", \"message\", \"field\"?}}`", body = crate::http::error::ErrorBody)), security(("api_key" = [])))]
async fn account(Caller(user): Caller) -> Json<AccountView> {
    Json(AccountView {
        id: user.id,
        email: user.email,
        role: user.role,
        created_at: user.created_at,
    })
}

#[derive(Serialize, utoipa::ToSchema)]
struct KeyList {
    api_keys: Vec<ApiKey>,
}

#[utoipa::path(get, operation_id = "api_list_keys", path = "/api/v1/api-keys", tag = "account", responses((status = 200, description = "the caller's API keys (never the keys themselves)", body = KeyList), (status = "4XX", description = "refused: `{\"error\": {\"code\", \"message\", \"field\"?}}`", body = crate::http::error::ErrorBody)), security(("api_key" = [])))]
async fn list_keys(
    State(state): State<AppState>,
    Caller(user): Caller,
) -> Result<Json<KeyList>, ApiError> {
    Ok(Json(KeyList {
        api_keys: accounts::list_api_keys(&state.platform.db, &user).await?,
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct NewKey {
    name: String,
}

#[derive(Serialize, utoipa::ToSchema)]
struct CreatedKey {
    api_key: ApiKey,
    /// The key itself, returned this once.
    key: String,
}

#[utoipa::path(post, operation_id = "api_create_key", path = "/api/v1/api-keys", tag = "account", request_body = NewKey, responses((status = 201, description = "the new key, shown this once", body = CreatedKey), (status = "4XX", description = "refused: `{\"error\": {\"code\", \"message\", \"field\"?}}`", body = crate::http::error::ErrorBody)), security(("api_key" = [])))]
async fn create_key(
    State(state): State<AppState>,
    Caller(user): Caller,
    body: Result<Json<NewKey>, JsonRejection>,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    let Json(body) = body?;
    let new = accounts::create_api_key(&state.platform.db, &user, &body.name).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedKey {
            api_key: new.key,
            key: new.secret.expose().clone(),
        }),
    ))
}

#[utoipa::path(delete, operation_id = "api_revoke_key", path = "/api/v1/api-keys/{id}", tag = "account", params(("id" = String, Path, description = "its id")), responses((status = 204, description = "revoked"), (status = "4XX", description = "refused: `{\"error\": {\"code\", \"message\", \"field\"?}}`", body = crate::http::error::ErrorBody)), security(("api_key" = [])))]
async fn revoke_key(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    accounts::revoke_api_key(&state.platform.db, &user, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn no_such_route(OriginalUri(uri): OriginalUri) -> ApiError {
    ApiError::not_found(format!("there is no API route at {}", uri.path()))
}
