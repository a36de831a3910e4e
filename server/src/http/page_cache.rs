//! A one-second cache of the public leaderboard page for visitors without a session or an API key:
//! the page is the same for all of them, and rendering it is most of the cost of serving it (the
//! board itself is cached in `domain::scoring::Leaderboards`). An entry is dropped as soon as this
//! process records a score, so a visitor never sees an older board than the API serves.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use super::state::AppState;

/// How long a rendered page is served again.
const TTL: Duration = Duration::from_secs(1);

/// The largest page kept.
const MAX_BODY: usize = 4 << 20;

/// The cached pages, by path and query.
#[derive(Default)]
pub struct PageCache {
    entries: Mutex<HashMap<String, Entry>>,
}

struct Entry {
    generation: u64,
    at: Instant,
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Entry {
    fn response(&self) -> Response {
        let mut response = Response::new(Body::from(self.body.clone()));
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers.clone();
        response
    }
}

/// Only an anonymous GET of the leaderboard page is cached: no cookie (so no session and no flash),
/// no API key.
fn cacheable(request: &Request) -> bool {
    request.method() == Method::GET
        && request.uri().path() == "/leaderboards"
        && !request.headers().contains_key(header::COOKIE)
        && !request.headers().contains_key(header::AUTHORIZATION)
}

/// The middleware: answers from the cache when it can, and keeps what it renders otherwise.
pub async fn serve(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if !cacheable(&request) {
        return next.run(request).await;
    }
    let key = request.uri().to_string();
    let generation = state.platform.leaderboards.generation();
    let cache = &state.page_cache;
    if let Some(entry) = cache.lock().get(&key)
        && entry.generation == generation
        && entry.at.elapsed() < TTL
    {
        return entry.response();
    }
    let response = next.run(request).await;
    if response.status() != StatusCode::OK || response.headers().contains_key(header::SET_COOKIE) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        return Response::builder()
            .status(StatusCode::INTERNAL_SERVER_ERROR)
            .body(Body::from("the page was too large to serve"))
            .unwrap_or_default();
    };
    let entry = Entry {
        generation,
        at: Instant::now(),
        status: parts.status,
        headers: parts.headers,
        body,
    };
    let response = entry.response();
    let mut entries = cache.lock();
    entries.retain(|_, e| e.at.elapsed() < TTL);
    entries.insert(key, entry);
    response
}

impl std::fmt::Debug for PageCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageCache")
            .field("pages", &self.lock().len())
            .finish()
    }
}

impl PageCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
