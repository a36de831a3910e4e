//! `GET /healthz` (is the server up and its database reachable) and `GET /metrics` (Prometheus).

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::json;

use super::endpoint::Endpoint;
use super::state::AppState;

pub fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::get("/healthz", healthz),
        Endpoint::get("/metrics", metrics),
    ]
}

async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    match state.platform.db.ping().await {
        Ok(()) => (StatusCode::OK, axum::Json(json!({ "status": "ok" }))),
        Err(err) => {
            tracing::error!(error = %err, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(json!({ "status": "database unreachable" })),
            )
        }
    }
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    match domain::operations::snapshot(&state.platform).await {
        Ok(snapshot) => state.metrics.set_operations(&snapshot),
        Err(err) => {
            tracing::warn!(error = %err, "the operator's figures could not be read; /metrics has the HTTP ones")
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}
