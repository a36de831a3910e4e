//! Helpers for the tests in `tests/` that run the real `crucible` binary: starting servers, running
//! its commands, waiting for conditions, and calling the API.

pub mod reference;

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

/// Starts `crucible serve` on `port` with data under `data`, `extra` arguments and environment. The
/// per-account limits on API requests and new tasks are lifted: tests poll the API every 50 ms for
/// minutes (the edge test plays the limits it is about).
pub fn start(data: &Path, port: u16, extra: &[&str], env: &[(&str, &str)]) -> Server {
    let mut command = Command::new(bin());
    command
        .args([
            "serve",
            "--addr",
            &format!("127.0.0.1:{port}"),
            "--api-requests-per-minute",
            "1000000",
            "--tasks-per-minute",
            "1000000",
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

/// Waits up to `seconds` until task `id` on the server at `base` has ended, and returns it.
pub async fn ended_task(base: &str, key: &str, id: &str, seconds: u64) -> Value {
    let url = format!("{base}/api/v1/tasks/{id}");
    let ended = [
        "success",
        "failure",
        "failure_finding_nodes",
        "prep_task_failure",
        "cancelled",
    ];
    wait_until(&format!("task {id} ends"), seconds, async || {
        get_json(&url, key)
            .await
            .is_some_and(|t| ended.contains(&t["state"].as_str().unwrap_or("")))
    })
    .await;
    get_json(&url, key).await.expect("the ended task")
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

/// Creates a customer account with the `crucible admin` commands (with `storage`, the flags naming
/// the data directory and database) and returns a new API key of theirs.
pub fn customer_key(storage: &[&str], email: &str) -> String {
    account_key(storage, email, "customer")
}

/// The same for an admin account.
pub fn admin_key(storage: &[&str], email: &str) -> String {
    account_key(storage, email, "admin")
}

fn account_key(storage: &[&str], email: &str, role: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let password = dir.path().join("pw");
    std::fs::write(&password, "a long enough password\n").unwrap();
    let mut create_user = vec!["admin", "create-user"];
    create_user.extend(storage);
    create_user.extend([
        "--email",
        email,
        "--password-file",
        password.to_str().unwrap(),
        "--role",
        role,
    ]);
    crucible(&create_user);
    let mut create_key = vec!["admin", "create-api-key"];
    create_key.extend(storage);
    create_key.extend(["--email", email]);
    // The key is the last word of the command's output.
    crucible(&create_key)
        .split_whitespace()
        .last()
        .unwrap()
        .to_string()
}

/// Sends `body` to `url` signed by `keys` with Epistula v2, with `extra` headers; the status and
/// JSON answer, or `None` when the server could not be reached or stopped answering.
pub async fn signed(
    method: &str,
    url: &str,
    keys: &schnorrkel::Keypair,
    body: &[u8],
    extra: &[(&str, &str)],
) -> Option<(u16, Value)> {
    let headers = domain::miners::epistula::sign(keys, body, domain::clock::now_ms(), None);
    let mut named = vec![
        ("Epistula-Version", headers.version.unwrap()),
        ("Epistula-Timestamp", headers.timestamp.unwrap()),
        ("Epistula-Uuid", headers.uuid.unwrap()),
        ("Epistula-Signed-By", headers.signed_by.unwrap()),
        ("Epistula-Request-Signature", headers.signature.unwrap()),
        ("Content-Type", "application/json".to_string()),
    ];
    named.extend(extra.iter().map(|(n, v)| (*n, v.to_string())));
    let named: Vec<(&str, &str)> = named.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let (status, answer) = testkit::http::try_request_with(method, url, &named, body).await?;
    Some((
        status,
        serde_json::from_slice(&answer).unwrap_or(Value::Null),
    ))
}

/// A miner's key pair, the same for the same seed.
pub fn miner_keys(seed: u8) -> schnorrkel::Keypair {
    schnorrkel::MiniSecretKey::from_bytes(&[seed; 32])
        .unwrap()
        .expand_to_keypair(schnorrkel::ExpansionMode::Ed25519)
}

/// POSTs `body` as JSON with the API key; the status and JSON answer.
pub async fn post_json(url: &str, key: &str, body: &Value) -> (u16, Value) {
    let auth = format!("Bearer {key}");
    let headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    let (status, answer) =
        testkit::http::request_with("POST", url, &headers, body.to_string().as_bytes()).await;
    (
        status,
        serde_json::from_slice(&answer).unwrap_or(Value::Null),
    )
}

/// Uploads `count` instruct rows through the server at `upload`, validates them through the one at
/// `validate` (the same server, or a replica) and waits until the dataset is ready; its id.
pub async fn ready_dataset(upload: &str, validate: &str, key: &str, count: usize) -> String {
    let rows: String = (0..count)
        .map(|i| {
            let row = serde_json::json!({"instruction": format!("Question number {i}?"), "output": format!("Answer number {i}.")});
            row.to_string() + "\n"
        })
        .collect();
    ready_dataset_of(upload, validate, key, "instruct", &rows).await
}

/// Uploads `rows` as a dataset named `name`, not validated yet; its id.
pub async fn uploaded_dataset(base: &str, key: &str, name: &str, rows: &str) -> String {
    let auth = format!("Bearer {key}");
    let (status, body) = testkit::http::request_with(
        "POST",
        &format!("{base}/api/v1/datasets?name={name}"),
        &[("Authorization", &auth)],
        rows.as_bytes(),
    )
    .await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    serde_json::from_slice::<Value>(&body).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Uploads `rows` (JSON lines) as a dataset of `task_type` with the suggested mapping, validates it
/// and waits until it is ready; its id.
pub async fn ready_dataset_of(
    upload: &str,
    validate: &str,
    key: &str,
    task_type: &str,
    rows: &str,
) -> String {
    let id = uploaded_dataset(upload, key, task_type, rows).await;
    let url = format!("{validate}/api/v1/datasets/{id}/validation");
    let (status, answer) = post_json(&url, key, &serde_json::json!({"task_type": task_type})).await;
    assert_eq!(status, 202, "{task_type}: {answer}");
    wait_until(
        &format!("the {task_type} dataset is ready"),
        60,
        async || {
            get_json(&format!("{upload}/api/v1/datasets/{id}"), key)
                .await
                .is_some_and(|d| d["state"] == "ready")
        },
    )
    .await;
    id
}

/// Creates a one-hour task on `dataset` with `model`; its id.
pub async fn create_task(base: &str, key: &str, dataset: &str, model: &str) -> String {
    let request =
        serde_json::json!({"dataset_id": dataset, "model_id": model, "hours_to_complete": 1});
    let (status, answer) = post_json(&format!("{base}/api/v1/tasks"), key, &request).await;
    assert_eq!(status, 201, "{answer}");
    answer["id"].as_str().unwrap().to_string()
}

/// A server with the reference evaluator over `base_models`, its task hour lasting `hour_ms` and its
/// text pool `pool` miners (`MIN-MAX`); the server, its address and a customer's API key.
pub async fn competition_server(
    work: &Path,
    base_models: &Path,
    hour_ms: &str,
    pool: &str,
) -> (Server, String, String) {
    let data = work.join("server");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let evaluator = reference::sibling("crucible-eval");
    let storage = ["--data-dir", data.to_str().unwrap()];
    let server = start(
        &data,
        port,
        &[
            "--evaluator",
            evaluator.to_str().unwrap(),
            "--base-models",
            base_models.to_str().unwrap(),
            "--hour-ms",
            hour_ms,
            "--text-pool",
            pool,
            "--min-dataset-rows",
            "50",
            "--evaluation-secs",
            "120",
        ],
        &[],
    );
    listening(port).await;
    let key = customer_key(&storage, "competition@example.org");
    (server, base, key)
}
