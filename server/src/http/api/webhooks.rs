//! `/api/v1/webhooks`: a customer's webhooks and the log of their deliveries.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use domain::webhooks::{self, Delivery, Webhook};
use serde::{Deserialize, Serialize};

use crate::http::caller::Caller;
use crate::http::endpoint::Endpoint;
use crate::http::error::ApiError;
use crate::http::state::AppState;
/// The OpenAPI description of this module's endpoints.
#[derive(utoipa::OpenApi)]
#[openapi(paths(create, list, delete, deliveries))]
pub(in crate::http) struct Doc;

pub fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::get("/api/v1/webhooks", list),
        Endpoint::post("/api/v1/webhooks", create),
        Endpoint::delete("/api/v1/webhooks/{id}", delete),
        Endpoint::get("/api/v1/webhooks/{id}/deliveries", deliveries),
    ]
}

#[derive(Deserialize, utoipa::ToSchema)]
struct NewWebhook {
    url: String,
    secret: String,
}

/// `{"url": "https://…", "secret": "at least 16 characters"}`; the secret is never shown again.
#[utoipa::path(post, operation_id = "webhooks_create", path = "/api/v1/webhooks", tag = "webhooks", request_body = NewWebhook, responses((status = 201, description = "registered", body = Webhook), (status = "4XX", description = "refused: `{\"error\": {\"code\", \"message\", \"field\"?}}`", body = crate::http::error::ErrorBody)), security(("api_key" = [])))]
async fn create(
    State(state): State<AppState>,
    Caller(user): Caller,
    body: Result<Json<NewWebhook>, JsonRejection>,
) -> Result<(StatusCode, Json<Webhook>), ApiError> {
    let Json(body) = body?;
    let webhook =
        webhooks::create(&state.platform.deliveries(), &user, &body.url, &body.secret).await?;
    Ok((StatusCode::CREATED, Json(webhook)))
}

#[derive(Serialize, utoipa::ToSchema)]
struct WebhookList {
    webhooks: Vec<Webhook>,
}

#[utoipa::path(get, operation_id = "webhooks_list", path = "/api/v1/webhooks", tag = "webhooks", responses((status = 200, description = "the caller's webhooks", body = WebhookList), (status = "4XX", description = "refused: `{\"error\": {\"code\", \"message\", \"field\"?}}`", body = crate::http::error::ErrorBody)), security(("api_key" = [])))]
async fn list(
    State(state): State<AppState>,
    Caller(user): Caller,
) -> Result<Json<WebhookList>, ApiError> {
    Ok(Json(WebhookList {
        webhooks: webhooks::list(&state.platform.db, &user).await?,
    }))
}

#[utoipa::path(delete, operation_id = "webhooks_delete", path = "/api/v1/webhooks/{id}", tag = "webhooks", params(("id" = String, Path, description = "its id")), responses((status = 204, description = "removed"), (status = "4XX", description = "refused: `{\"error\": {\"code\", \"message\", \"field\"?}}`", body = crate::http::error::ErrorBody)), security(("api_key" = [])))]
async fn delete(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    webhooks::delete(&state.platform.db, &user, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, utoipa::ToSchema)]
struct DeliveryList {
    deliveries: Vec<Delivery>,
}

#[utoipa::path(get, operation_id = "webhooks_deliveries", path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks", params(("id" = String, Path, description = "its id")), responses((status = 200, description = "its deliveries and their outcomes", body = DeliveryList), (status = "4XX", description = "refused: `{\"error\": {\"code\", \"message\", \"field\"?}}`", body = crate::http::error::ErrorBody)), security(("api_key" = [])))]
async fn deliveries(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<Json<DeliveryList>, ApiError> {
    Ok(Json(DeliveryList {
        deliveries: webhooks::deliveries(&state.platform.db, &user, &id).await?,
    }))
}
