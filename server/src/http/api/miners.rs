//! The miner API under `/api/v1/miner`: every request is signed with Epistula v2 by the miner's hotkey.

use axum::Json;
use axum::body::Bytes;
use std::time::Duration;

use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use domain::miners::Hotkey;
use domain::miners::epistula::{self, Signed, SignedHeaders};
use domain::miners::{self, Declaration, Miner};
use domain::tasks::window::{self, MinerTask, Receipt, TrainingData};
use domain::tasks::{Offer, fan_out};
use domain::tournaments::play;
use domain::tournaments::recipes::{self, Recipe};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};

use crate::http::endpoint::Endpoint;
use crate::http::error::ApiError;
use crate::http::state::AppState;
/// The OpenAPI description of this module's endpoints.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    identity,
    register,
    offers,
    accept,
    decline,
    task,
    training_data,
    submit,
    upload_recipe,
    recipes,
    enter
))]
pub(in crate::http) struct Doc;

pub fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::get("/api/v1/miner/identity", identity),
        Endpoint::post("/api/v1/miner/register", register),
        Endpoint::get("/api/v1/miner/offers", offers),
        Endpoint::post("/api/v1/miner/offers/{id}/accept", accept),
        Endpoint::post("/api/v1/miner/offers/{id}/decline", decline),
        Endpoint::get("/api/v1/miner/tasks/{id}", task),
        Endpoint::get("/api/v1/miner/tasks/{id}/training-data", training_data),
        Endpoint::put("/api/v1/miner/tasks/{id}/submission", submit).unlimited_body(),
        Endpoint::put("/api/v1/miner/recipes", upload_recipe).unlimited_body(),
        Endpoint::get("/api/v1/miner/recipes", recipes),
        Endpoint::post("/api/v1/miner/tournaments/{id}/entries", enter),
    ]
}

/// The longest a long-poll for offers waits.
const MAX_WAIT_SECS: u64 = 60;

/// The largest signed body read whole (uploads of models are streamed by their own route).
const MAX_SIGNED_BODY: usize = 1024 * 1024;

/// A request whose Epistula v2 signature holds and was not seen before, with its body.
pub struct SignedRequest {
    pub signed: Signed,
    pub body: Bytes,
}

fn epistula_headers(headers: &HeaderMap) -> SignedHeaders {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    SignedHeaders {
        version: get("epistula-version"),
        timestamp: get("epistula-timestamp"),
        uuid: get("epistula-uuid"),
        signed_by: get("epistula-signed-by"),
        signed_for: get("epistula-signed-for"),
        signature: get("epistula-request-signature"),
    }
}

impl FromRequest<AppState> for SignedRequest {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let platform = &state.platform;
        let headers = epistula_headers(request.headers());
        // Who signs, when and for whom, before a byte of the body is read.
        let checked = miners::check_unseen(&platform.db, &platform.identity, &headers).await?;
        let body = axum::body::to_bytes(request.into_body(), MAX_SIGNED_BODY)
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    format!("a signed request body may hold at most {MAX_SIGNED_BODY} bytes"),
                )
            })?;
        let signed =
            miners::verify_body(&platform.db, checked, &epistula::body_sha256(&body)).await?;
        Ok(SignedRequest { signed, body })
    }
}

#[derive(Serialize, utoipa::ToSchema)]
struct Identity {
    /// The SS58 address a request's `Epistula-Signed-For` must name, when it names one.
    identity: String,
}

/// This deployment's identity, for miners who sign their requests for it (unsigned: it is public).
#[utoipa::path(get, operation_id = "miners_identity", path = "/api/v1/miner/identity", tag = "miners", responses((status = 200, description = "this deployment's identity", body = Identity), (status = "4XX", description = "refused: `{\"error\": {\"code\", \"message\", \"field\"?}}`", body = crate::http::error::ErrorBody)))]
async fn identity(State(state): State<AppState>) -> Json<Identity> {
    Json(Identity {
        identity: state.platform.identity.to_string(),
    })
}

/// The registered miner with this hotkey.
async fn registered(state: &AppState, hotkey: &Hotkey) -> Result<Miner, ApiError> {
    miners::by_hotkey(&state.platform.db, hotkey)
        .await?
        .ok_or_else(|| {
            ApiError::forbidden(
                "this hotkey is not a registered miner: POST /api/v1/miner/register first",
            )
        })
}

impl SignedRequest {
    /// The registered miner who signed the request.
    async fn miner(&self, state: &AppState) -> Result<Miner, ApiError> {
        registered(state, &self.signed.hotkey).await
    }

    /// The body as JSON of type `T`, or a 422 naming what is wrong.
    fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, ApiError> {
        serde_json::from_slice(&self.body).map_err(|err| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                format!("the body is not the JSON expected: {err}"),
            )
        })
    }
}

/// `{"task_types": ["instruct", …], "max_parameters": N}`: registers the signing hotkey as a miner, or
/// updates what it declared.
#[utoipa::path(post, operation_id = "miners_register", path = "/api/v1/miner/register", tag = "miners", request_body = Declaration, responses((status = 200, description = "registered, or its declaration updated", body = Miner), (status = "4XX", description = "refused: `{\"error\": {\"code\", \"message\", \"field\"?}}`", body = crate::http::error::ErrorBody)), security(("epistula" = [])))]
async fn register(
    State(state): State<AppState>,
    request: SignedRequest,
) -> Result<(StatusCode, Json<Miner>), ApiError> {
    let declaration: Declaration = request.json()?;
    let miner = miners::register(&state.platform.db, &request.signed.hotkey, declaration).await?;
    Ok((StatusCode::OK, Json(miner)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct Wait {
    wait: Option<u64>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct OfferList {
    offers: Vec<Offer>,
}

/// The miner's open offers; with `?wait=SECONDS` (at most 60), waits for one when there is none.
#[utoipa::path(get, operation_id = "miners_offers", path = "/api/v1/miner/offers", tag = "miners", params(Wait), responses((status = 200, description = "the miner's open offers", body = OfferList), (status = "4XX", description = "refused: `{\"error\": {\"code\", \"message\", \"field\"?}}`", body = crate::http::error::ErrorBody)), security(("epistula" = [])))]
async fn offers(
    State(state): State<AppState>,
    Query(wait): Query<Wait>,
    request: SignedRequest,
) -> Result<Json<OfferList>, ApiError> {
    let miner = request.miner(&state).await?;
    let wait = Duration::from_secs(wait.wait.unwrap_or(0).min(MAX_WAIT_SECS));
    let offers = fan_out::open_offers(&state.platform.dispatch(), &miner, wait).await?;
    Ok(Json(OfferList { offers }))
}

#[utoipa::path(post, operation_id = "miners_accept", path = "/api/v1/miner/offers/{id}/accept", tag = "miners", params(("id" = String, Path, description = "its id")), responses((status = 200, description = "accepted", body = Offer), (status = "4XX", description = "refused: `{\"error\": {\"code\", \"message\", \"field\"?}}`", body = crate::http::error::ErrorBody)), security(("epistula" = [])))]
async fn accept(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: SignedRequest,
) -> Result<Json<Offer>, ApiError> {
    let miner = request.miner(&state).await?;
    Ok(Json(
        fan_out::decide(&state.platform.dispatch(), &miner, &id, true).await?,
    ))
}

#[utoipa::path(post, operation_id = "miners_decline", path = "/api/v1/miner/offers/{id}/decline", tag = "miners", params(("id" = String, Path, description = "its id")), responses((status = 200, description = "declined", body = Offer), (status = "4XX", description = "refused: `{\"error\": {\"code\", \"message\", \"field\"?}}`", body = crate::http::error::ErrorBody)), security(("epistula" = [])))]
async fn decline(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: SignedRequest,
) -> Result<Json<Offer>, ApiError> {
    let miner = request.miner(&state).await?;
    Ok(Json(
        fan_out::decide(&state.platform.dispatch(), &miner, &id, false).await?,
    ))
}

#[utoipa::path(get, operation_id = "miners_task", path = "/api/v1/miner/tasks/{id}", tag = "miners", params(("id" = String, Path, description = "its id")), responses((status = 200, description = "a task the miner accepted", body = MinerTask), (status = "4XX", description = "refused: `{\"error\": {\"code\", \"message\", \"field\"?}}`", body = crate::http::error::ErrorBody)), security(("epistula" = [])))]
async fn task(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: SignedRequest,
) -> Result<Json<MinerTask>, ApiError> {
    let miner = request.miner(&state).await?;
    Ok(Json(window::for_miner(&state.platform, &miner, &id).await?))
}

/// Short-lived links to the training split, for a miner accepted on the task, while its window is open.
#[utoipa::path(get, operation_id = "miners_training_data", path = "/api/v1/miner/tasks/{id}/training-data", tag = "miners", params(("id" = String, Path, description = "its id")), responses((status = 200, description = "short-lived links to the training split, while the window is open", body = TrainingData), (status = "4XX", description = "refused: `{\"error\": {\"code\", \"message\", \"field\"?}}`", body = crate::http::error::ErrorBody)), security(("epistula" = [])))]
async fn training_data(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: SignedRequest,
) -> Result<Json<TrainingData>, ApiError> {
    let miner = request.miner(&state).await?;
    Ok(Json(
        window::training_data(&state.platform, &miner, &id).await?,
    ))
}

/// The model artifact (a tar) as the raw body, streamed; `X-Artifact-SHA256` declares its hash, and
/// the Epistula signature covers the body like any other.
#[utoipa::path(put, operation_id = "miners_submit", path = "/api/v1/miner/tasks/{id}/submission", tag = "miners", params(("id" = String, Path, description = "its id")), request_body(content((Vec<u8> = "application/octet-stream")), description = "the artifact, with `X-Artifact-SHA256`"), responses((status = 200, description = "received", body = Receipt), (status = "4XX", description = "refused: `{\"error\": {\"code\", \"message\", \"field\"?}}`", body = crate::http::error::ErrorBody)), security(("epistula" = [])))]
async fn submit(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Json<Receipt>, ApiError> {
    let headers = epistula_headers(request.headers());
    let declared = request
        .headers()
        .get("x-artifact-sha256")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let checked =
        miners::check_unseen(&state.platform.db, &state.platform.identity, &headers).await?;
    let miner = registered(&state, &checked.signed().hotkey).await?;
    let body = request
        .into_body()
        .into_data_stream()
        .map_err(std::io::Error::other);
    let receipt = window::submit(
        &state.platform,
        &miner,
        &id,
        checked,
        &declared,
        Box::pin(body),
    )
    .await?;
    Ok(Json(receipt))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct RecipeName {
    name: String,
}

/// A training recipe: the tar build context as the raw body (signed like any other), `?name=` for
/// people to know it by. Accepted with 202: it is built in the background.
#[utoipa::path(put, operation_id = "miners_upload_recipe", path = "/api/v1/miner/recipes", tag = "miners", params(RecipeName), request_body(content((Vec<u8> = "application/x-tar")), description = "the recipe's build context"), responses((status = 202, description = "accepted; built in the background", body = Recipe), (status = "4XX", description = "refused: `{\"error\": {\"code\", \"message\", \"field\"?}}`", body = crate::http::error::ErrorBody)), security(("epistula" = [])))]
async fn upload_recipe(
    State(state): State<AppState>,
    Query(named): Query<RecipeName>,
    request: Request,
) -> Result<(StatusCode, Json<Recipe>), ApiError> {
    let headers = epistula_headers(request.headers());
    let platform = &state.platform;
    // Who sends it, and that it is a registered miner, before up to the limit is read.
    let checked = miners::check_unseen(&platform.db, &platform.identity, &headers).await?;
    registered(&state, &checked.signed().hotkey).await?;
    let limit = state
        .platform
        .trainers
        .as_ref()
        .map_or(MAX_SIGNED_BODY as u64, |t| t.max_recipe_bytes);
    let body = axum::body::to_bytes(request.into_body(), limit as usize)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("a recipe's build context may be at most {limit} bytes"),
            )
        })?;
    let signed = miners::verify_body(&platform.db, checked, &epistula::body_sha256(&body)).await?;
    let miner = registered(&state, &signed.hotkey).await?;
    let recipe = recipes::upload(&state.platform, &miner, &named.name, body.to_vec()).await?;
    Ok((StatusCode::ACCEPTED, Json(recipe)))
}

#[derive(Serialize, utoipa::ToSchema)]
struct RecipeList {
    recipes: Vec<Recipe>,
}

/// The miner's recipes with their build states and logs, newest first.
#[utoipa::path(get, operation_id = "miners_recipes", path = "/api/v1/miner/recipes", tag = "miners", responses((status = 200, description = "the miner's recipes", body = RecipeList), (status = "4XX", description = "refused: `{\"error\": {\"code\", \"message\", \"field\"?}}`", body = crate::http::error::ErrorBody)), security(("epistula" = [])))]
async fn recipes(
    State(state): State<AppState>,
    request: SignedRequest,
) -> Result<Json<RecipeList>, ApiError> {
    let miner = request.miner(&state).await?;
    let recipes = recipes::of_miner(&state.platform, &miner).await?;
    Ok(Json(RecipeList { recipes }))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct Entry {
    recipe_id: String,
}

/// A recipe's place in a tournament.
#[derive(Serialize, utoipa::ToSchema)]
struct Entered {
    tournament_id: String,
    recipe_id: String,
    seed: i64,
}

/// `{"recipe_id": …}`: enters a built recipe of the miner's in a tournament taking entries.
#[utoipa::path(post, operation_id = "miners_enter", path = "/api/v1/miner/tournaments/{id}/entries", tag = "miners", params(("id" = String, Path, description = "its id")), request_body = Entry, responses((status = 201, description = "entered", body = Entered), (status = "4XX", description = "refused: `{\"error\": {\"code\", \"message\", \"field\"?}}`", body = crate::http::error::ErrorBody)), security(("epistula" = [])))]
async fn enter(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: SignedRequest,
) -> Result<(StatusCode, Json<Entered>), ApiError> {
    let miner = request.miner(&state).await?;
    let entry: Entry = request.json()?;
    let entered = play::enter(&state.platform.db, &miner, &id, &entry.recipe_id).await?;
    let body = Entered {
        tournament_id: entered.tournament_id,
        recipe_id: entered.recipe_id,
        seed: entered.seed,
    };
    Ok((StatusCode::CREATED, Json(body)))
}
