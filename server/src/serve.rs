//! `crucible serve`: the web server and its background loops, until SIGTERM or Ctrl-C.

use std::time::Duration;

use domain::session_store::DbSessionStore;
use leptos::config::LeptosOptions;
use tokio::net::TcpListener;

use crate::CliError;
use crate::config::ServeArgs;
use crate::http::{self, AppState, HttpSettings};
use crate::startup;

pub async fn serve(args: ServeArgs) -> Result<(), CliError> {
    let public_url = args
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", args.addr));
    let mut platform = startup::platform(&args.storage, &args.datasets, &public_url).await?;
    platform.evaluator = startup::evaluator(&args)?;
    platform.trainers = startup::trainers(&args)?;
    platform.queue_workers = domain::workers::plan(
        &platform,
        domain::workers::Sizes {
            fast: args.datasets.workers,
            cpu: args.datasets.cpu_workers,
            evaluation: args.datasets.evaluation_workers,
            trainer: args.tournaments.trainer_slots,
        },
    );
    for queue in &platform.queue_workers {
        match &queue.absent {
            None => tracing::info!(
                queue = queue.queue.as_str(),
                workers = queue.count,
                "queue started"
            ),
            Some(why) => tracing::info!(queue = queue.queue.as_str(), "queue not started: {why}"),
        }
    }
    platform.tournament_schedule = args.tournaments.schedule();
    platform.webhook_reach = domain::webhooks::Reach {
        allow_private: args.webhook_allow_private,
    };
    if let Some(identity) = &args.identity {
        platform.identity = identity.clone();
    }
    tracing::info!(identity = %platform.identity, "miners may sign requests for this identity");
    let sealed = domain::webhooks::seal_stored_secrets(&platform.deliveries()).await?;
    if sealed > 0 {
        tracing::info!(sealed, "webhook secrets stored in clear were sealed");
    }
    if !args.site_root.join("pkg").join("crucible.wasm").is_file() {
        tracing::warn!(
            site_root = %args.site_root.display(),
            "no built web assets here; pages will not hydrate (run `cargo leptos build`, or pass --site-root)"
        );
    }
    let leptos = LeptosOptions::builder()
        .output_name("crucible")
        .site_root(args.site_root.to_string_lossy().as_ref())
        .site_pkg_dir("pkg")
        .site_addr(args.addr)
        .build();
    let settings = HttpSettings {
        secure_cookies: args.secure_cookies,
        public_url: public_url.clone(),
        allowances: args.limits.allowances(),
    };
    let state = AppState::new(platform.clone(), leptos, settings);
    let rate_limits = state.rate_limits.clone();
    let router = http::router(state);

    let listener = TcpListener::bind(args.addr).await?;
    let local = listener.local_addr()?;
    tracing::info!(%local, runner = ?args.runner, database = ?platform.db.backend(), "listening");
    println!("Crucible is running at http://{local} (Ctrl-C stops it)");

    let sweeper = tokio::spawn(sweep_sessions(DbSessionStore::new(platform.db.clone())));
    let forgetter = tokio::spawn(forget_request_ids(platform.db.clone()));
    let quiet_callers = tokio::spawn(async move {
        // The buckets of callers quiet for a minute are full again: forgetting them loses nothing.
        let mut every = tokio::time::interval(Duration::from_secs(60));
        loop {
            every.tick().await;
            rate_limits.forget_quiet();
        }
    });
    let relay = tokio::spawn(relay_ended_tasks(platform.db.clone()));
    let offer_watch = tokio::spawn(
        platform
            .offer_watch
            .clone()
            .watch(platform.db.clone(), Duration::from_millis(100)),
    );
    let (stop_workers, stopped) = tokio::sync::watch::channel(false);
    let workers = domain::workers::start(&platform, &platform.queue_workers, &stopped);
    let header_timeout = Duration::from_secs(args.header_timeout_secs);
    http::connections::serve(listener, router, header_timeout, shutdown_signal()).await;
    // A job cut short here is released for the next claim (every job is safe to run twice), and the
    // containers it ran are removed.
    let _ = stop_workers.send(true);
    for worker in workers {
        let _ = worker.await;
    }
    runner::settle().await;
    sweeper.abort();
    forgetter.abort();
    quiet_callers.abort();
    offer_watch.abort();
    relay.abort();
    tracing::info!("stopped");
    Ok(())
}

/// Deletes expired browser sessions every ten minutes. Safe on any number of replicas at once.
async fn sweep_sessions(store: DbSessionStore) {
    let mut every = tokio::time::interval(Duration::from_secs(600));
    loop {
        every.tick().await;
        match store.delete_expired().await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(deleted = n, "expired sessions swept"),
            Err(err) => {
                tracing::warn!(error = %err, "sweeping expired sessions failed; will retry")
            }
        }
    }
}

/// Relays ended tasks from the tasks' outbox to their owners' webhooks, every quarter second. Safe on
/// any number of replicas at once: each ended task is taken once.
async fn relay_ended_tasks(db: domain::db::Database) {
    let mut every = tokio::time::interval(Duration::from_millis(250));
    loop {
        every.tick().await;
        if let Err(err) = domain::webhooks::relay_ended_tasks(&db).await {
            tracing::warn!(error = %err, "relaying ended tasks to webhooks failed; will retry");
        }
    }
}

/// Forgets the ids of signed miner requests once their signatures are too old to be replayed anyway,
/// every minute. Safe on any number of replicas at once.
async fn forget_request_ids(db: domain::db::Database) {
    let mut every = tokio::time::interval(Duration::from_secs(60));
    loop {
        every.tick().await;
        if let Err(err) = domain::miners::forget_old_requests(&db).await {
            tracing::warn!(error = %err, "forgetting old miner request ids failed; will retry");
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
