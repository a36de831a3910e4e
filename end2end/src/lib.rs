//! Helpers for the tests in `tests/` that run the real `crucible` binary: starting servers, running
//! its commands, waiting for conditions, and calling the API.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The `crucible` binary under test (`scripts/test.sh` sets it).
pub fn bin() -> String {
    std::env::var("CRUCIBLE_BIN")
        .expect("CRUCIBLE_BIN is not set: run the tests with scripts/test.sh")
}

/// A running `crucible serve`, killed when dropped.
pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `crucible serve` on `port` with data under `data`, `extra` arguments and environment.
pub fn start(data: &Path, port: u16, extra: &[&str], env: &[(&str, &str)]) -> Server {
    let mut command = Command::new(bin());
    command
        .args([
            "serve",
            "--addr",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(data)
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null());
    for (name, value) in env {
        command.env(name, value);
    }
    Server(command.spawn().expect("start crucible"))
}

/// Runs a `crucible` command and returns its standard output; it must succeed.
pub fn crucible(args: &[&str]) -> String {
    let output = Command::new(bin())
        .args(args)
        .output()
        .expect("run crucible");
    assert!(
        output.status.success(),
        "crucible {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// A free port on the loopback interface.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GETs `url` with the API key; the JSON body when the answer is 200.
pub async fn get_json(url: &str, key: &str) -> Option<Value> {
    let auth = format!("Bearer {key}");
    let (status, body) =
        testkit::http::request_with("GET", url, &[("Authorization", &auth)], b"").await;
    (status == 200).then(|| serde_json::from_slice(&body).unwrap())
}

/// Polls `check` every 50 ms until it holds; fails the test after `seconds`.
pub async fn wait_until(what: &str, seconds: u64, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until a server listens on `port`.
pub async fn listening(port: u16) {
    wait_until("the server listens", 60, async || {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
    })
    .await;
}
