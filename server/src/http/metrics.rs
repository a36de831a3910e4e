//! Request counts and latencies per route, and what an operator watches (tasks, jobs, offers, webhook
//! deliveries, datasets, recipe runs, waiting miners: `domain::operations`), exposed at `/metrics` in
//! the Prometheus text format.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use domain::operations::Snapshot;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

type Latencies = Family<RouteLabels, Histogram, fn() -> Histogram>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    kind: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    kind: String,
    outcome: String,
}

type Seconds = Gauge<f64, AtomicU64>;

/// The operator's figures, set from a `domain::operations::Snapshot` at each scrape.
#[derive(Debug, Default)]
struct Operations {
    tasks: Family<StateLabels, Gauge>,
    datasets: Family<StateLabels, Gauge>,
    jobs: Family<JobLabels, Gauge>,
    offers: Family<OutcomeLabels, Gauge>,
    deliveries: Family<StateLabels, Gauge>,
    validated_bytes: Gauge,
    recipe_runs: Gauge,
    recipe_run_seconds: Seconds,
    miners_waiting: Gauge,
    job_runs: Family<RunLabels, Gauge>,
    job_run_seconds: Family<KindLabels, Seconds>,
}

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latencies: Latencies,
    operations: Operations,
}

fn latency_histogram() -> Histogram {
    // 1 ms to about 16 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("crucible");
        let requests = Family::<RequestLabels, Counter>::default();
        let latencies: Latencies = Family::new_with_constructor(latency_histogram);
        registry.register(
            "http_requests",
            "HTTP requests answered, by route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer HTTP requests",
            latencies.clone(),
        );
        let operations = Operations::default();
        let o = &operations;
        registry.register("tasks", "Tasks by state", o.tasks.clone());
        registry.register("datasets", "Datasets by state", o.datasets.clone());
        registry.register(
            "jobs",
            "Background jobs by kind and state (queued, running, done, failed)",
            o.jobs.clone(),
        );
        registry.register(
            "offers",
            "Offers to miners by outcome (offered and still open, accepted, declined, expired)",
            o.offers.clone(),
        );
        registry.register(
            "webhook_deliveries",
            "Webhook deliveries by state (pending, delivered, failed)",
            o.deliveries.clone(),
        );
        registry.register(
            "dataset_validated_bytes",
            "Bytes read by dataset validations, over every dataset",
            o.validated_bytes.clone(),
        );
        registry.register(
            "recipe_runs",
            "Tournament recipe runs recorded",
            o.recipe_runs.clone(),
        );
        registry.register(
            "recipe_run_seconds",
            "Seconds taken by the recorded recipe runs, in all",
            o.recipe_run_seconds.clone(),
        );
        registry.register(
            "miners_waiting_for_offers",
            "Miners holding a long poll for offers on this server",
            o.miners_waiting.clone(),
        );
        registry.register(
            "job_runs",
            "Jobs this server ran, by kind and outcome (ok, failed)",
            o.job_runs.clone(),
        );
        registry.register(
            "job_run_seconds",
            "Seconds this server spent running jobs, by kind (evaluations, recipe runs, validations…)",
            o.job_run_seconds.clone(),
        );
        Metrics {
            registry,
            requests,
            latencies,
            operations,
        }
    }
}

impl Metrics {
    /// Sets the operator's figures from `snapshot`; a state no longer present is dropped.
    pub fn set_operations(&self, snapshot: &Snapshot) {
        let o = &self.operations;
        let states = |family: &Family<StateLabels, Gauge>, rows: &[(String, i64)]| {
            family.clear();
            for (state, count) in rows {
                family
                    .get_or_create(&StateLabels {
                        state: state.clone(),
                    })
                    .set(*count);
            }
        };
        states(&o.tasks, &snapshot.tasks);
        states(&o.datasets, &snapshot.datasets);
        states(&o.deliveries, &snapshot.deliveries);
        o.offers.clear();
        for (outcome, count) in &snapshot.offers {
            o.offers
                .get_or_create(&OutcomeLabels {
                    outcome: outcome.clone(),
                })
                .set(*count);
        }
        o.jobs.clear();
        for (kind, state, count) in &snapshot.jobs {
            let labels = JobLabels {
                kind: kind.clone(),
                state: state.clone(),
            };
            o.jobs.get_or_create(&labels).set(*count);
        }
        o.validated_bytes.set(snapshot.validated_bytes);
        o.recipe_runs.set(snapshot.recipe_runs.0);
        o.recipe_run_seconds.set(snapshot.recipe_runs.1);
        o.miners_waiting
            .set(i64::try_from(snapshot.miners_waiting).unwrap_or(i64::MAX));
        for (kind, timing) in &snapshot.job_timings {
            let runs = |outcome: &str| RunLabels {
                kind: kind.clone(),
                outcome: outcome.into(),
            };
            let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
            o.job_runs
                .get_or_create(&runs("ok"))
                .set(count(timing.runs - timing.failed));
            o.job_runs
                .get_or_create(&runs("failed"))
                .set(count(timing.failed));
            o.job_run_seconds
                .get_or_create(&KindLabels { kind: kind.clone() })
                .set(timing.seconds);
        }
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String");
        out
    }
}

/// Middleware on the router's routes: counts each request under its route pattern (not its path, so
/// ids do not multiply the series).
pub async fn record(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_string();
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let labels = RouteLabels {
        method: method.clone(),
        route: route.clone(),
    };
    metrics
        .latencies
        .get_or_create(&labels)
        .observe(started.elapsed().as_secs_f64());
    let status = response.status().as_u16();
    metrics
        .requests
        .get_or_create(&RequestLabels {
            method,
            route,
            status,
        })
        .inc();
    response
}
