//! The public side of scoring: the leaderboard and the audit export. Neither needs an account, and
//! neither holds anything of a task's data — only who scored what, and why.

use axum::Json;
use axum::extract::{Query, State};
use domain::clock::now_ms;
use domain::datasets::TaskType;
use domain::scoring::{self, Standing, audit::AuditExport};
use serde::{Deserialize, Serialize};

use crate::http::endpoint::Endpoint;
use crate::http::{ApiError, AppState};

pub fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::get("/api/v1/leaderboard", leaderboard),
        Endpoint::get("/api/v1/audit/export", audit_export),
    ]
}

#[derive(Deserialize)]
struct LeaderboardQuery {
    window: Option<String>,
    task_type: Option<String>,
}

#[derive(Serialize)]
struct Leaderboard {
    window: String,
    task_type: Option<String>,
    standings: Vec<Standing>,
}

/// `?window=1d|3d|7d` (7d by default) and optionally `&task_type=…`.
async fn leaderboard(
    State(state): State<AppState>,
    Query(query): Query<LeaderboardQuery>,
) -> Result<Json<Leaderboard>, ApiError> {
    let window = query.window.unwrap_or_else(|| "7d".into());
    let task_type = match query.task_type.as_deref() {
        None | Some("") => None,
        Some(name) => Some(TaskType::parse(name).ok_or_else(|| {
            domain::Error::invalid(
                "task_type",
                "the task type is instruct, chat, dpo, grpo or image",
            )
        })?),
    };
    let standings = scoring::leaderboard(&state.platform.db, &window, task_type, now_ms()).await?;
    Ok(Json(Leaderboard {
        window,
        task_type: task_type.map(|t| t.as_str().to_string()),
        standings,
    }))
}

/// Every score of the last 7 days with its reason, and the weights they give now.
async fn audit_export(State(state): State<AppState>) -> Result<Json<AuditExport>, ApiError> {
    Ok(Json(
        scoring::audit::export(&state.platform.db, now_ms()).await?,
    ))
}
