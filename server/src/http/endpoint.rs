//! The routes of the JSON API, the form handlers, health, metrics and signed objects, declared as a
//! list of endpoints. The router is built from the list and tests walk the same list (with the app's
//! pages and server functions), so a route added here cannot escape the checks that walk every route.

use axum::Router;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{MethodFilter, MethodRouter, on};

use super::state::AppState;

pub struct Endpoint {
    pub method: Method,
    /// In axum's syntax: `/api/v1/datasets/{id}`, `/objects/{*key}`.
    pub path: &'static str,
    handler: MethodRouter<AppState>,
}

impl Endpoint {
    fn new<H: Handler<T, AppState>, T: 'static>(
        method: Method,
        filter: MethodFilter,
        path: &'static str,
        handler: H,
    ) -> Self {
        Endpoint {
            method,
            path,
            handler: on(filter, handler),
        }
    }

    pub fn get<H: Handler<T, AppState>, T: 'static>(path: &'static str, handler: H) -> Self {
        Self::new(Method::GET, MethodFilter::GET, path, handler)
    }

    pub fn post<H: Handler<T, AppState>, T: 'static>(path: &'static str, handler: H) -> Self {
        Self::new(Method::POST, MethodFilter::POST, path, handler)
    }

    pub fn put<H: Handler<T, AppState>, T: 'static>(path: &'static str, handler: H) -> Self {
        Self::new(Method::PUT, MethodFilter::PUT, path, handler)
    }

    pub fn delete<H: Handler<T, AppState>, T: 'static>(path: &'static str, handler: H) -> Self {
        Self::new(Method::DELETE, MethodFilter::DELETE, path, handler)
    }

    /// Takes request bodies of any size: the handler applies limits of its own (uploads).
    pub fn unlimited_body(mut self) -> Self {
        self.handler = self
            .handler
            .layer(axum::extract::DefaultBodyLimit::disable());
        self
    }
}

/// Adds `endpoints` to `router` (endpoints on one path share it, one method each).
pub fn mount(router: Router<AppState>, endpoints: Vec<Endpoint>) -> Router<AppState> {
    endpoints.into_iter().fold(router, |router, endpoint| {
        router.route(endpoint.path, endpoint.handler)
    })
}
