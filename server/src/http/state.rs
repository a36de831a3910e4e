//! What every handler can reach, and the HTTP edge's settings.

use std::sync::Arc;

use axum::extract::FromRef;
use domain::Platform;
use domain::storage::LinkSigner;
use leptos::config::LeptosOptions;

use super::metrics::Metrics;
use super::{page_cache, rate_limits, stream_slots};

/// Settings of the HTTP edge.
#[derive(Clone, Debug)]
pub struct HttpSettings {
    pub secure_cookies: bool,
    /// Where this server is reached, for the links it hands out.
    pub public_url: String,
    /// What the rate limits allow.
    pub allowances: rate_limits::Allowances,
}

/// What every handler can reach.
#[derive(Clone, Debug)]
pub struct AppState {
    pub platform: Platform,
    pub leptos: LeptosOptions,
    /// Verifies the signed links of the local object store.
    pub links: LinkSigner,
    pub metrics: Arc<Metrics>,
    pub settings: HttpSettings,
    /// The public leaderboard page as anonymous visitors get it, for a second.
    pub page_cache: Arc<page_cache::PageCache>,
    /// The task event streams each account holds open here.
    pub stream_slots: stream_slots::StreamSlots,
    /// Per-address and per-account rate limits.
    pub rate_limits: Arc<rate_limits::RateLimits>,
}

impl AppState {
    pub fn new(platform: Platform, leptos: LeptosOptions, settings: HttpSettings) -> Self {
        let links = LinkSigner::new(platform.signing_key.clone(), settings.public_url.clone());
        let rate_limits = Arc::new(rate_limits::RateLimits::new(settings.allowances));
        AppState {
            platform,
            leptos,
            links,
            metrics: Arc::new(Metrics::default()),
            settings,
            page_cache: Default::default(),
            stream_slots: Default::default(),
            rate_limits,
        }
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}
