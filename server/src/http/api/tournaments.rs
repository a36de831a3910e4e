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
/// The OpenAPI description of this module's endpoints.
#[derive(utoipa::OpenApi)]
#[openapi(paths(list, leaderboard, open, show, files, download))]
pub(in crate::http) struct Doc;

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

#[derive(Serialize, utoipa::ToSchema)]
struct TournamentList {
    tournaments: Vec<Bracket>,
}

/// The latest tournaments with their brackets, newest first.
#[utoipa::path(get, operation_id = "tournaments_list", path = "/api/v1/tournaments", tag = "tournaments", responses((status = 200, description = "the latest tournaments with their brackets", body = TournamentList), (status = "4XX", description = "refused: `{\"error\": {\"code\", \"message\", \"field\"?}}`", body = crate::http::error::ErrorBody)))]
async fn list(State(state): State<AppState>) -> Result<Json<TournamentList>, ApiError> {
    let tournaments = play::recent(&state.platform.db, 20).await?;
    Ok(Json(TournamentList { tournaments }))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct Kind {
    kind: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct Leaderboard {
    kind: String,
    miners: Vec<MinerStanding>,
}

/// `?kind=text|image` (text by default): points per miner over every tournament of the kind.
#[utoipa::path(get, operation_id = "tournaments_leaderboard", path = "/api/v1/tournaments/leaderboard", tag = "tournaments", params(Kind), responses((status = 200, description = "points per miner over every tournament of the kind", body = Leaderboard), (status = "4XX", description = "refused: `{\"error\": {\"code\", \"message\", \"field\"?}}`", body = crate::http::error::ErrorBody)))]
async fn leaderboard(
    State(state): State<AppState>,
    axum::extract::Query(kind): axum::extract::Query<Kind>,
) -> Result<Json<Leaderboard>, ApiError> {
    let kind = kind.kind.unwrap_or_else(|| "text".into());
    let miners = play::leaderboard(&state.platform.db, &kind).await?;
    Ok(Json(Leaderboard { kind, miners }))
}

/// Opens a tournament on one of the admin's ready datasets: `{"dataset_id", "model_id", "hours"}`.
#[utoipa::path(post, operation_id = "tournaments_open", path = "/api/v1/tournaments", tag = "tournaments", request_body = NewTournament, responses((status = 201, description = "opened (admins only)", body = Bracket), (status = "4XX", description = "refused: `{\"error\": {\"code\", \"message\", \"field\"?}}`", body = crate::http::error::ErrorBody)), security(("api_key" = [])))]
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

#[utoipa::path(get, operation_id = "tournaments_show", path = "/api/v1/tournaments/{id}", tag = "tournaments", params(("id" = String, Path, description = "its id")), responses((status = 200, description = "the tournament's bracket", body = Bracket), (status = "4XX", description = "refused: `{\"error\": {\"code\", \"message\", \"field\"?}}`", body = crate::http::error::ErrorBody)))]
async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Bracket>, ApiError> {
    Ok(Json(play::bracket(&state.platform.db, &id).await?))
}

#[derive(Serialize, utoipa::ToSchema)]
struct FileList {
    files: Vec<RecipeFile>,
}

/// A published (winning) recipe's files, with the text of its small ones.
#[utoipa::path(get, operation_id = "tournaments_files", path = "/api/v1/recipes/{id}/files", tag = "tournaments", params(("id" = String, Path, description = "its id")), responses((status = 200, description = "a champion's recipe's files", body = FileList), (status = "4XX", description = "refused: `{\"error\": {\"code\", \"message\", \"field\"?}}`", body = crate::http::error::ErrorBody)))]
async fn files(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<FileList>, ApiError> {
    let files = recipes::published_files(&state.platform, &id).await?;
    Ok(Json(FileList { files }))
}

/// A published recipe's build context, as the tar its miner uploaded.
#[utoipa::path(get, operation_id = "tournaments_download", path = "/api/v1/recipes/{id}/download", tag = "tournaments", params(("id" = String, Path, description = "its id")), responses((status = 200, description = "a champion's recipe's build context", body = Vec<u8>, content_type = "application/x-tar"), (status = "4XX", description = "refused: `{\"error\": {\"code\", \"message\", \"field\"?}}`", body = crate::http::error::ErrorBody)))]
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
