//! The public side of scoring: the leaderboard and the audit export. Neither needs an account, and
//! neither holds anything of a task's data — only who scored what, and why.

use axum::Json;
use axum::extract::{Query, State};
use domain::clock::now_ms;
use domain::scoring::{self, BoardPage, BoardQuery, audit::AuditExport};
use serde::Deserialize;

use crate::http::endpoint::Endpoint;
use crate::http::error::ApiError;
use crate::http::state::AppState;
/// The OpenAPI description of this module's endpoints.
#[derive(utoipa::OpenApi)]
#[openapi(paths(leaderboard, audit_export))]
pub(in crate::http) struct Doc;

pub fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::get("/api/v1/leaderboard", leaderboard),
        Endpoint::get("/api/v1/audit/export", audit_export),
    ]
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct LeaderboardQuery {
    window: Option<String>,
    task_type: Option<String>,
    sort: Option<String>,
    page: Option<String>,
    per_page: Option<String>,
}

/// `?window=1d|3d|7d` (7d by default), `&task_type=…`, `&sort=points|wins|tasks|hotkey`, `&page=N`
/// (from 1) and `&per_page=N` (50 by default, at most 500); all optional.
#[utoipa::path(get, operation_id = "scores_leaderboard", path = "/api/v1/leaderboard", tag = "scores", params(LeaderboardQuery), responses((status = 200, description = "a page of the public leaderboard", body = BoardPage), (status = "4XX", description = "refused: `{\"error\": {\"code\", \"message\", \"field\"?}}`", body = crate::http::error::ErrorBody)))]
async fn leaderboard(
    State(state): State<AppState>,
    Query(query): Query<LeaderboardQuery>,
) -> Result<Json<BoardPage>, ApiError> {
    let query = BoardQuery::parse(
        query.window.as_deref(),
        query.task_type.as_deref(),
        query.sort.as_deref(),
        query.page.as_deref(),
        query.per_page.as_deref(),
    )?;
    let page = state
        .platform
        .leaderboards
        .page(&state.platform.db, &query, now_ms())
        .await?;
    Ok(Json(page))
}

/// Every score of the last 7 days with its reason, and the weights they give now.
#[utoipa::path(get, operation_id = "scores_audit_export", path = "/api/v1/audit/export", tag = "scores", responses((status = 200, description = "every score and the weights they give, with the formula", body = AuditExport), (status = "4XX", description = "refused: `{\"error\": {\"code\", \"message\", \"field\"?}}`", body = crate::http::error::ErrorBody)))]
async fn audit_export(State(state): State<AppState>) -> Result<Json<AuditExport>, ApiError> {
    Ok(Json(
        scoring::audit::export(&state.platform.db, now_ms()).await?,
    ))
}
