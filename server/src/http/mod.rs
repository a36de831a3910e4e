//! The HTTP edge: the router, its layers and the handlers. Pages come from the `app` crate; this
//! module adds the JSON API, the form handlers, health, metrics and signed object links.

mod api;
mod caller;
pub mod connections;
mod csrf;
mod endpoint;
mod error;
mod forms;
mod health;
mod metrics;
mod objects;
mod openai;
pub mod openapi;
mod page_cache;
pub mod rate_limits;
mod state;
pub mod stream_slots;

pub use caller::Caller;
pub use error::ApiError;
pub use metrics::Metrics;
pub use state::{AppState, HttpSettings};

use axum::Router;
use axum::extract::{Request, State};
use axum::routing::post;
use domain::session_store::DbSessionStore;
use leptos::prelude::provide_context;
use leptos_axum::{LeptosRoutes, generate_route_list};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

/// The router. The miner API has a lean stack of its own: ten thousand miners may each hold a long
/// poll open, and every layer a waiting request passes through keeps its state for as long as it waits
/// (sessions, the page cache and their middleware held about a third of each waiting request's
/// memory; miners need none of them). Every other path (pages, forms, the rest of the API) goes on
/// to `site`.
pub fn router(state: AppState) -> Router {
    let miners = endpoint::mount(Router::new(), api::miner_endpoints()).route_layer(
        axum::middleware::from_fn_with_state(state.metrics.clone(), metrics::record),
    );
    traced(miners)
        .with_state(state.clone())
        .fallback_service(site(state))
}

/// Pages, server functions, forms and the API besides the miners', with sessions.
fn site(state: AppState) -> Router {
    let platform = state.platform.clone();
    let context = move || provide_context(platform.clone());
    let shell = {
        let options = state.leptos.clone();
        move || app::shell(options.clone())
    };
    let routes = page_routes();

    let sessions = SessionManagerLayer::new(DbSessionStore::new(state.platform.db.clone()))
        .with_name("crucible_session")
        .with_same_site(SameSite::Lax)
        .with_http_only(true)
        .with_secure(state.settings.secure_cookies)
        .with_expiry(Expiry::OnInactivity(time::Duration::days(14)));

    let pages = Router::new()
        .leptos_routes_with_context(&state, routes, context.clone(), shell)
        .route("/fn/{*name}", post(server_fn).get(server_fn))
        .route("/api/v1/{*rest}", api::fallback())
        .route("/v1/{*rest}", openai::fallback());
    let site = endpoint::mount(pages, site_endpoints())
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            page_cache::serve,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            metrics::record,
        ))
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(context, app::shell))
        .layer(sessions);
    traced(site).with_state(state)
}

/// Every request gets an id (the caller's `x-request-id`, or a new one), answered in its response
/// and logged with its method, path, status and latency.
fn traced(router: Router<AppState>) -> Router<AppState> {
    router
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request| {
                    let id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
                    tracing::info_span!("request", request_id = %id, method = %request.method(), path = %request.uri().path())
                })
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

/// The endpoints behind sessions: everything besides the app's pages, server functions and the miner API.
fn site_endpoints() -> Vec<endpoint::Endpoint> {
    [
        forms::endpoints(),
        api::endpoints(),
        openai::endpoints(),
        openapi::endpoints(),
        health::endpoints(),
        objects::endpoints(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Every endpoint: the miner API's and the site's.
fn endpoints() -> Vec<endpoint::Endpoint> {
    let mut endpoints = api::miner_endpoints();
    endpoints.extend(site_endpoints());
    endpoints
}

/// Every route the router answers, as (method, path with `{parameters}`): the endpoints, the app's
/// pages and each server function. Tests walk this list.
pub fn route_list() -> Vec<(axum::http::Method, String)> {
    let mut routes: Vec<(axum::http::Method, String)> = endpoints()
        .into_iter()
        .map(|endpoint| (endpoint.method, endpoint.path.to_string()))
        .collect();
    for page in page_routes() {
        routes.push((axum::http::Method::GET, page.path().to_string()));
    }
    for (path, method) in leptos::server_fn::axum::server_fn_paths() {
        routes.push((method, path.to_string()));
    }
    routes.sort_by(|a, b| (&a.1, a.0.as_str()).cmp(&(&b.1, b.0.as_str())));
    routes.dedup();
    routes
}

/// The app's page routes, found once per process: finding them renders the app in a mode that must not
/// overlap with serving pages (several routers built while others serve, as in the tests, hung renders).
fn page_routes() -> Vec<leptos_axum::AxumRouteListing> {
    static ROUTES: std::sync::OnceLock<Vec<leptos_axum::AxumRouteListing>> =
        std::sync::OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(app::App)).clone()
}

/// Runs a server function with the platform in its context.
async fn server_fn(State(state): State<AppState>, request: Request) -> axum::response::Response {
    use axum::response::IntoResponse;
    let platform = state.platform.clone();
    leptos_axum::handle_server_fns_with_context(move || provide_context(platform.clone()), request)
        .await
        .into_response()
}
