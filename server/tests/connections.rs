//! The server's connections on a real socket: a client that trickles its headers in is closed after
//! the header timeout, while others are answered meanwhile, and a request being answered is not
//! timed by it.

use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const HEADER_TIMEOUT: Duration = Duration::from_millis(800);

/// A server whose `/slow` answers after twice the header timeout; its address and a handle that
/// stops it.
async fn start() -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let router = Router::new().route("/", get(|| async { "hello" })).route(
        "/slow",
        get(|| async {
            tokio::time::sleep(2 * HEADER_TIMEOUT).await;
            "at last"
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server::http::connections::serve(
        listener,
        router,
        HEADER_TIMEOUT,
        async move {
            let _ = stopped.await;
        },
    ));
    (addr, stop)
}

/// Everything the server sends until it closes the connection, or what came within `limit`.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, bool) {
    let mut received = Vec::new();
    let mut buffer = [0u8; 1024];
    let closed = tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await
    .is_ok();
    (String::from_utf8_lossy(&received).into_owned(), closed)
}

async fn get_once(addr: std::net::SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    read_until_closed(&mut stream, Duration::from_secs(10))
        .await
        .0
}

#[test]
fn a_client_trickling_its_headers_is_closed_and_others_are_answered_meanwhile() {
    testkit::run(async {
        let (addr, _stop) = start().await;
        // Timed from before the connection exists: the server's clock for its headers starts when it
        // accepts, which may come before `connect` returns here.
        let started = Instant::now();
        let mut slow = TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET / HTTP/1.1\r\nHost: te").await.unwrap();

        let answer = get_once(addr, "/").await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("hello"), "{answer}");

        let (received, closed) = read_until_closed(&mut slow, Duration::from_secs(10)).await;
        assert!(
            closed,
            "the slow client's connection is still open after 10 s"
        );
        let waited = started.elapsed();
        assert!(
            waited >= HEADER_TIMEOUT && waited < HEADER_TIMEOUT + Duration::from_secs(3),
            "closed after {waited:?}, not about {HEADER_TIMEOUT:?}"
        );
        assert!(
            !received.contains("hello"),
            "the half-sent request was answered: {received}"
        );
    });
}

#[test]
fn an_idle_keep_alive_connection_is_closed_but_a_long_answer_is_not_cut() {
    testkit::run(async {
        let (addr, _stop) = start().await;
        let answer = get_once(addr, "/slow").await;
        assert!(answer.ends_with("at last"), "{answer}");

        let mut idle = TcpStream::connect(addr).await.unwrap();
        idle.write_all(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
            .await
            .unwrap();
        let (received, closed) = read_until_closed(&mut idle, Duration::from_secs(10)).await;
        assert!(received.ends_with("hello"), "{received}");
        assert!(
            closed,
            "an idle keep-alive connection is still open after 10 s"
        );
    });
}
