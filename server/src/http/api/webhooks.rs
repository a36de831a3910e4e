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

pub fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::get("/api/v1/webhooks", list),
        Endpoint::post("/api/v1/webhooks", create),
        Endpoint::delete("/api/v1/webhooks/{id}", delete),
        Endpoint::get("/api/v1/webhooks/{id}/deliveries", deliveries),
    ]
}

#[derive(Deserialize)]
struct NewWebhook {
    url: String,
    secret: String,
}

/// `{"url": "https://…", "secret": "at least 16 characters"}`; the secret is never shown again.
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

#[derive(Serialize)]
struct WebhookList {
    webhooks: Vec<Webhook>,
}

async fn list(
    State(state): State<AppState>,
    Caller(user): Caller,
) -> Result<Json<WebhookList>, ApiError> {
    Ok(Json(WebhookList {
        webhooks: webhooks::list(&state.platform.db, &user).await?,
    }))
}

async fn delete(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    webhooks::delete(&state.platform.db, &user, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize)]
struct DeliveryList {
    deliveries: Vec<Delivery>,
}

async fn deliveries(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<Json<DeliveryList>, ApiError> {
    Ok(Json(DeliveryList {
        deliveries: webhooks::deliveries(&state.platform.db, &user, &id).await?,
    }))
}
