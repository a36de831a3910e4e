//! The listening socket's connections, each served over HTTP/1.1 with the router until it closes or
//! the server shuts down.
//!
//! axum's own `serve` answers HTTP/1.1 and HTTP/2 alike, and every connection then carries the state
//! of both protocols for as long as it is open. Ten thousand miners each hold a connection open in
//! a long poll; Crucible's clients (browsers, miners and API scripts, over plain HTTP or a TLS proxy)
//! speak HTTP/1.1, so only that is kept.
//!
//! A connection has `header_timeout` to send a request's headers, counted from when the server
//! starts waiting for them: a client that trickles them in to hold a connection open (slowloris),
//! or a keep-alive connection left idle that long, is closed. A request being answered (a long
//! poll, a stream of events, an upload's body) is not timed by it.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt;

/// Serves `router` on every connection `listener` accepts until `shutdown` resolves; then stops
/// accepting, lets the requests in flight finish, closes idle connections and returns.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    header_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let connections = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors, most often: wait for connections to close.
                    tracing::warn!(error = %err, "accepting a connection failed; retrying in a second");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        // Each request knows the address it came from (for per-address rate limits).
        let service = router
            .clone()
            .map_request(move |request: hyper::Request<Incoming>| {
                let mut request = request.map(Body::new);
                request
                    .extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                request
            });
        let connection = connections
            .watch(http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service)));
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "connection ended with an error");
            }
        });
    }
    drop(listener);
    connections.shutdown().await;
}
