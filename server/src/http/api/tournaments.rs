//! `/api/v1/tournaments`: the public brackets, the published winners' recipes, and admins opening
//! tournaments.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use domain::tournaments::play::{self, Bracket, MinerStanding, NewTournament};
use domain::tournaments::recipes::{self, RecipeFile};
use serde::Serialize;

use crate::http::caller::Caller;
use crate::http::endpoint::Endpoint;
use crate::http::error::ApiError;
use crate::http::state::AppState;

pub fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::get("/api/v1/tournaments", list),
        Endpoint::get("/api/v1/tournaments/leaderboard", leaderboard),
        Endpoint::post("/api/v1/tournaments", open),
        Endpoint::get("/api/v1/tournaments/{id}", show),
        Endpoint::get("/api/v1/recipes/{id}/files", files),
        Endpoint::get("/api/v1/recipes/{id}/download", download),
    ]
}

#[derive(Serialize)]
struct TournamentList {
    tournaments: Vec<Bracket>,
}

/// The latest tournaments with their brackets, newest first.
async fn list(State(state): State<AppState>) -> Result<Json<TournamentList>, ApiError> {
    let tournaments = play::recent(&state.platform.db, 20).await?;
    Ok(Json(TournamentList { tournaments }))
}

#[derive(serde::Deserialize)]
struct Kind {
    kind: Option<String>,
}

#[derive(Serialize)]
struct Leaderboard {
    kind: String,
    miners: Vec<MinerStanding>,
}

/// `?kind=text|image` (text by default): points per miner over every tournament of the kind.
async fn leaderboard(
    State(state): State<AppState>,
    axum::extract::Query(kind): axum::extract::Query<Kind>,
) -> Result<Json<Leaderboard>, ApiError> {
    let kind = kind.kind.unwrap_or_else(|| "text".into());
    let miners = play::leaderboard(&state.platform.db, &kind).await?;
    Ok(Json(Leaderboard { kind, miners }))
}

/// Opens a tournament on one of the admin's ready datasets: `{"dataset_id", "model_id", "hours"}`.
async fn open(
    State(state): State<AppState>,
    Caller(admin): Caller,
    body: Result<Json<NewTournament>, JsonRejection>,
) -> Result<(StatusCode, Json<Bracket>), ApiError> {
    let Json(body) = body?;
    let opened = play::open(&state.platform, &admin, &body).await?;
    Ok((
        StatusCode::CREATED,
        Json(play::bracket(&state.platform.db, &opened.id).await?),
    ))
}

async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Bracket>, ApiError> {
    Ok(Json(play::bracket(&state.platform.db, &id).await?))
}

#[derive(Serialize)]
struct FileList {
    files: Vec<RecipeFile>,
}

/// A published (winning) recipe's files, with the text of its small ones.
async fn files(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<FileList>, ApiError> {
    let files = recipes::published_files(&state.platform, &id).await?;
    Ok(Json(FileList { files }))
}

/// A published recipe's build context, as the tar its miner uploaded.
async fn download(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let context = recipes::published_context(&state.platform, &id).await?;
    let disposition = format!("attachment; filename=\"recipe-{id}.tar\"");
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-tar".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        axum::body::Body::from_stream(context),
    )
        .into_response())
}
