//! Rate limits at the edge: per client address on signing in and signing up (before any password is
//! hashed), and per account on API-key requests and on creating tasks. Each is a token bucket held in
//! this server's memory (the `governor` crate); a caller over it gets 429 with `Retry-After`. The
//! buckets of callers quiet for a while are forgotten by `serve`'s sweeper.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::error::ApiError;

/// What each limit allows: a burst, refilled at an even rate over a minute.
#[derive(Clone, Copy, Debug)]
pub struct PerMinute(pub u32);

#[derive(Debug)]
pub struct RateLimits {
    sign_in: DefaultKeyedRateLimiter<IpAddr>,
    sign_up: DefaultKeyedRateLimiter<IpAddr>,
    api_key: DefaultKeyedRateLimiter<String>,
    task_creation: DefaultKeyedRateLimiter<String>,
}

/// The limits `crucible serve` takes (each a number per minute).
#[derive(Clone, Copy, Debug)]
pub struct Allowances {
    pub sign_in_per_ip: PerMinute,
    pub sign_up_per_ip: PerMinute,
    pub api_key_per_account: PerMinute,
    pub tasks_per_account: PerMinute,
}

fn limiter<K: std::hash::Hash + Eq + Clone>(per_minute: PerMinute) -> DefaultKeyedRateLimiter<K> {
    let burst = NonZeroU32::new(per_minute.0.max(1)).expect("at least one");
    let quota = Quota::with_period(Duration::from_secs(60) / burst.get())
        .expect("a period above zero")
        .allow_burst(burst);
    RateLimiter::keyed(quota)
}

/// A caller over its limit: 429, saying when to try again.
fn refused(what: &str, wait: Duration) -> ApiError {
    let secs = wait.as_secs().max(1);
    ApiError::rate_limited(format!("too many {what}; try again in {secs} s"), secs)
}

impl RateLimits {
    pub fn new(allowances: Allowances) -> Self {
        RateLimits {
            sign_in: limiter(allowances.sign_in_per_ip),
            sign_up: limiter(allowances.sign_up_per_ip),
            api_key: limiter(allowances.api_key_per_account),
            task_creation: limiter(allowances.tasks_per_account),
        }
    }

    pub fn sign_in(&self, from: &Peer) -> Result<(), ApiError> {
        check(&self.sign_in, &from.key(), "sign-ins from this address")
    }

    pub fn sign_up(&self, from: &Peer) -> Result<(), ApiError> {
        check(&self.sign_up, &from.key(), "sign-ups from this address")
    }

    pub fn api_key(&self, account: &str) -> Result<(), ApiError> {
        check(
            &self.api_key,
            &account.to_string(),
            "requests with this account's API keys",
        )
    }

    pub fn task_creation(&self, account: &str) -> Result<(), ApiError> {
        check(
            &self.task_creation,
            &account.to_string(),
            "new tasks for this account",
        )
    }

    /// Forgets the buckets of callers that have been quiet long enough to be full again.
    pub fn forget_quiet(&self) {
        self.sign_in.retain_recent();
        self.sign_up.retain_recent();
        self.api_key.retain_recent();
        self.task_creation.retain_recent();
    }
}

fn check<K: std::hash::Hash + Eq + Clone>(
    limiter: &DefaultKeyedRateLimiter<K>,
    key: &K,
    what: &str,
) -> Result<(), ApiError> {
    limiter.check_key(key).map_err(|not_until| {
        refused(
            what,
            not_until.wait_time_from(DefaultClock::default().now()),
        )
    })
}

/// The address a request came from (the TCP peer, as `connections` records it); requests without
/// one (in-process tests) share one bucket.
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub Option<IpAddr>);

impl Peer {
    fn key(&self) -> IpAddr {
        self.0
            .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Peer(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|info| info.0.ip()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_allowed_then_refused_with_a_retry_time_per_key() {
        let limits = RateLimits::new(Allowances {
            sign_in_per_ip: PerMinute(3),
            sign_up_per_ip: PerMinute(3),
            api_key_per_account: PerMinute(3),
            tasks_per_account: PerMinute(3),
        });
        let attacker = Peer(Some("203.0.113.9".parse().unwrap()));
        for _ in 0..3 {
            limits.sign_in(&attacker).unwrap();
        }
        let refused = limits.sign_in(&attacker).unwrap_err();
        assert_eq!(refused.status, axum::http::StatusCode::TOO_MANY_REQUESTS);
        assert!(
            refused.message.contains("try again in"),
            "{}",
            refused.message
        );
        let neighbour = Peer(Some("198.51.100.7".parse().unwrap()));
        limits
            .sign_in(&neighbour)
            .expect("another address has its own bucket");
    }
}
