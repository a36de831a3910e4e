//! An in-process Crucible server for HTTP tests: the real router over a real database and a local
//! object store in a temporary directory, driven request by request with a cookie jar.

#![allow(dead_code)]

use std::collections::BTreeMap;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use domain::Platform;
use domain::db::Database;
use domain::storage::{LinkSigner, LocalStore};
use http_body_util::BodyExt;
use leptos::config::LeptosOptions;
use serde_json::{Value, json};
use server::http::{AppState, HttpSettings, router};
use tempfile::TempDir;
use tower::ServiceExt;

pub const PASSWORD: &str = "correct horse battery";

/// A request that takes longer than this has hung: fail the test and say which one.
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

pub struct TestApp {
    pub state: AppState,
    router: Router,
    cookies: BTreeMap<String, String>,
    _dir: TempDir,
}

#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl TestResponse {
    pub fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|err| panic!("not JSON ({err}): {}", self.body))
    }

    /// The CSRF token a page carries in its forms.
    pub fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let start = self
            .body
            .find(marker)
            .unwrap_or_else(|| panic!("no CSRF field in {}", self.body))
            + marker.len();
        self.body[start..].split('"').next().unwrap().to_string()
    }
}

impl TestApp {
    pub async fn new(db: Database) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let public_url = "http://127.0.0.1:3000";
        let signing_key = domain::platform::signing_key(&db).await.unwrap();
        let store = LocalStore::open(
            dir.path().join("objects"),
            LinkSigner::new(signing_key.clone(), public_url),
        )
        .await
        .unwrap();
        let identity = domain::platform::derived_identity(&signing_key);
        let mut platform = Platform {
            db,
            store: std::sync::Arc::new(store),
            signing_key,
            job_lease_ms: domain::queue::LEASE_MS,
            // Short rounds of offers, so that tests see them close.
            scheduling: domain::tasks::Scheduling {
                offer_ttl_ms: 400,
                retry_delay_ms: 200,
                max_retries: 1,
                hour_ms: 3_600_000,
                max_submission_bytes: 64 * 1024,
                ..Default::default()
            },
            offer_watch: Default::default(),
            evaluator: None,
            leaderboards: Default::default(),
            trainers: None,
            tournament_schedule: Default::default(),
            // As deployed: webhooks reach public addresses only (a test that receives them on
            // loopback allows it with `configure`).
            webhook_reach: Default::default(),
            identity,
            vault: domain::vault::Vault::open_or_create(&dir.path().join("secrets.key")).unwrap(),
            queue_workers: Vec::new(),
            dataset_limits: domain::datasets::Limits {
                min_usable_rows: 100,
                ..Default::default()
            },
            upload_limits: domain::datasets::UploadLimits {
                max_file_bytes: 4 * 1024 * 1024,
                quota_bytes: 6 * 1024 * 1024,
            },
        };
        let one_each = domain::workers::Sizes {
            fast: 1,
            cpu: 1,
            evaluation: 1,
            trainer: 1,
        };
        platform.queue_workers = domain::workers::plan(&platform, one_each);
        let leptos = LeptosOptions::builder()
            .output_name("crucible")
            .site_root(dir.path().join("site").to_string_lossy().as_ref())
            .build();
        // In-process requests have no client address and share one bucket: room for every test's
        // sign-ups (the limits themselves are tested with their own allowances).
        let generous = server::http::rate_limits::PerMinute(100_000);
        let settings = HttpSettings {
            secure_cookies: false,
            public_url: public_url.into(),
            allowances: server::http::rate_limits::Allowances {
                sign_in_per_ip: generous,
                sign_up_per_ip: generous,
                api_key_per_account: generous,
                tasks_per_account: generous,
            },
        };
        let state = AppState::new(platform, leptos, settings);
        TestApp {
            router: router(state.clone()),
            state,
            cookies: BTreeMap::new(),
            _dir: dir,
        }
    }

    /// Every file the object store holds, as paths relative to its directory.
    pub fn stored_files(&self) -> Vec<String> {
        fn walk(dir: &std::path::Path, root: &std::path::Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, root, out);
                } else {
                    out.push(
                        path.strip_prefix(root)
                            .unwrap()
                            .to_string_lossy()
                            .into_owned(),
                    );
                }
            }
        }
        let root = self._dir.path().join("objects");
        let mut files = Vec::new();
        walk(&root, &root, &mut files);
        files.sort();
        files
    }

    pub async fn upload(&mut self, key: &str, name: &str, body: Vec<u8>) -> TestResponse {
        let request = Request::post(format!("/api/v1/datasets?name={name}"))
            .header(header::AUTHORIZATION, format!("Bearer {key}"))
            .body(Body::from(body))
            .unwrap();
        self.send(request).await
    }

    /// Signs up `email` and returns a new API key of theirs.
    pub async fn customer_key(&mut self, email: &str) -> String {
        self.forget_cookies();
        self.sign_up(email, "customer").await;
        let response = self
            .submit(
                "/account/api-keys",
                "/account/api-keys",
                &[("name", "tests")],
            )
            .await;
        assert_eq!(response.status, StatusCode::SEE_OTHER);
        let page = self.get("/account/api-keys").await;
        let marker = "data-test=\"new-key\"";
        let start = page.body.find(marker).expect("a new key") + marker.len();
        let start = start + page.body[start..].find('>').unwrap() + 1;
        page.body[start..].split('<').next().unwrap().to_string()
    }

    /// Changes the platform's settings for the routes as well as for the jobs the test runs.
    /// Puts the rate limits at `allowances` (every app starts with allowances too large to meet).
    pub fn limit(&mut self, allowances: server::http::rate_limits::Allowances) {
        self.state.rate_limits =
            std::sync::Arc::new(server::http::rate_limits::RateLimits::new(allowances));
        self.router = router(self.state.clone());
    }

    pub fn configure(&mut self, change: impl FnOnce(&mut Platform)) {
        change(&mut self.state.platform);
        self.router = router(self.state.clone());
    }

    /// Runs background jobs, and relays ended tasks to webhooks as the server does, until neither has
    /// anything to do.
    pub async fn run_jobs(&self) {
        let platform = &self.state.platform;
        loop {
            let relayed = domain::webhooks::relay_ended_tasks(&platform.db)
                .await
                .unwrap();
            let ran = domain::workers::run_next(platform).await.unwrap();
            if relayed == 0 && !ran {
                return;
            }
        }
    }

    pub fn session_cookie(&self) -> Option<&String> {
        self.cookies.get("crucible_session")
    }

    pub fn forget_cookies(&mut self) {
        self.cookies.clear();
    }

    pub async fn send(&mut self, request: Request<Body>) -> TestResponse {
        self.send_within(request, None).await
    }

    /// `send`, but with `brief` set, what the body holds after that long (an event stream never
    /// ends), rather than a failure.
    pub async fn send_within(
        &mut self,
        mut request: Request<Body>,
        brief: Option<std::time::Duration>,
    ) -> TestResponse {
        if !self.cookies.is_empty() && !request.headers().contains_key(header::COOKIE) {
            let jar = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            request
                .headers_mut()
                .insert(header::COOKIE, jar.parse().unwrap());
        }
        let what = format!("{} {}", request.method(), request.uri());
        // Served in a task of its own, as the server serves each connection.
        let serving = tokio::spawn(self.router.clone().oneshot(request));
        let response = tokio::time::timeout(REQUEST_TIMEOUT, serving)
            .await
            .unwrap_or_else(|_| panic!("{what} got no response in {REQUEST_TIMEOUT:?}"))
            .expect("the request task")
            .unwrap();
        for set in response.headers().get_all(header::SET_COOKIE) {
            let pair = set.to_str().unwrap().split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || set.to_str().unwrap().contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_string(), value.to_string());
            }
        }
        let status = response.status();
        let headers = response.headers().clone();
        let mut body = response.into_body();
        let mut bytes = Vec::new();
        let until = tokio::time::Instant::now() + brief.unwrap_or(REQUEST_TIMEOUT);
        loop {
            match tokio::time::timeout_at(until, body.frame()).await {
                Ok(Some(frame)) => {
                    if let Ok(data) = frame.unwrap().into_data() {
                        bytes.extend_from_slice(&data);
                    }
                }
                Ok(None) => break,
                Err(_) if brief.is_some() => break,
                Err(_) => panic!("{what}: the body did not end in {REQUEST_TIMEOUT:?}"),
            }
        }
        TestResponse {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    /// A GET of `path` with the API key, answered but its body left unread: for streams held open.
    pub async fn open(&self, path: &str, key: &str) -> axum::response::Response {
        let request = Request::get(path)
            .header(header::AUTHORIZATION, format!("Bearer {key}"))
            .body(Body::empty())
            .unwrap();
        self.request(request).await
    }

    /// `request` answered as it is, without cookies and its body unread: several may run at once.
    pub async fn request(&self, request: Request<Body>) -> axum::response::Response {
        tokio::spawn(self.router.clone().oneshot(request))
            .await
            .expect("the request task")
            .unwrap()
    }

    pub async fn get(&mut self, path: &str) -> TestResponse {
        self.send(Request::get(path).body(Body::empty()).unwrap())
            .await
    }

    /// A GET without the test's cookies, as a visitor with no session sends it.
    pub async fn get_anonymous(&mut self, path: &str) -> TestResponse {
        let saved = std::mem::take(&mut self.cookies);
        let response = self.get(path).await;
        self.cookies = saved;
        response
    }

    pub async fn post_form(&mut self, path: &str, fields: &[(&str, &str)]) -> TestResponse {
        let body = serde_urlencoded::to_string(fields).unwrap();
        let request = Request::post(path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap();
        self.send(request).await
    }

    /// Posts a form the way a browser does from `page`: with the CSRF token the page carries.
    pub async fn submit(
        &mut self,
        page: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> TestResponse {
        let csrf = self.get(page).await.csrf();
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_form(action, &all).await
    }

    pub async fn sign_up(&mut self, email: &str, role: &str) -> TestResponse {
        self.submit(
            "/signup",
            "/auth/sign-up",
            &[("email", email), ("password", PASSWORD), ("role", role)],
        )
        .await
    }

    pub async fn sign_in(&mut self, email: &str, password: &str) -> TestResponse {
        self.submit(
            "/signin",
            "/auth/sign-in",
            &[("email", email), ("password", password)],
        )
        .await
    }

    pub async fn api(
        &mut self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> TestResponse {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(key) = bearer {
            request = request.header(header::AUTHORIZATION, format!("Bearer {key}"));
        }
        let body = match body {
            Some(json) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(json.to_string())
            }
            None => Body::empty(),
        };
        self.send(request.body(body).unwrap()).await
    }
}

/// `n` good instruct rows with unique text, then some defective ones.
pub fn instruct_file(n: usize) -> Vec<u8> {
    let mut text = String::new();
    for i in 0..n {
        text.push_str(&json!({"question": format!("Secret question number {i}?"), "answer": format!("Answer {i}.")}).to_string());
        text.push('\n');
    }
    text.push_str("{\"question\": \"A question without an answer?\"}\n");
    text.push_str("not json at all\n");
    text.push_str(
        &json!({"question": "Secret question number 0?", "answer": "Answer 0."}).to_string(),
    );
    text.push('\n');
    text.into_bytes()
}

pub async fn validated_dataset(app: &mut TestApp, key: &str) -> Value {
    let uploaded = app.upload(key, "faq", instruct_file(300)).await;
    assert_eq!(uploaded.status, StatusCode::CREATED, "{}", uploaded.body);
    let id = uploaded.json()["id"].as_str().unwrap().to_string();
    let started = app
        .api(
            "POST",
            &format!("/api/v1/datasets/{id}/validation"),
            Some(key),
            Some(json!({"task_type": "instruct", "seed": 11})),
        )
        .await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.body);
    assert_eq!(started.json()["state"], "validating");
    app.run_jobs().await;
    app.api("GET", &format!("/api/v1/datasets/{id}"), Some(key), None)
        .await
        .json()
}

/// `request` with the Epistula v2 headers of `keys` signing `body` now, as a miner sends it.
pub fn epistula_signed(
    mut request: axum::http::request::Builder,
    keys: &schnorrkel::Keypair,
    body: &[u8],
) -> axum::http::request::Builder {
    let headers = domain::miners::epistula::sign(keys, body, domain::clock::now_ms(), None);
    for (name, value) in [
        ("Epistula-Version", headers.version),
        ("Epistula-Timestamp", headers.timestamp),
        ("Epistula-Uuid", headers.uuid),
        ("Epistula-Signed-By", headers.signed_by),
        ("Epistula-Request-Signature", headers.signature),
    ] {
        if let Some(value) = value {
            request = request.header(name, value);
        }
    }
    request
}

/// A miner's key pair, the same for the same seed.
pub fn miner_keys(seed: u8) -> schnorrkel::Keypair {
    schnorrkel::MiniSecretKey::from_bytes(&[seed; 32])
        .unwrap()
        .expand_to_keypair(schnorrkel::ExpansionMode::Ed25519)
}

impl TestApp {
    /// Sends `body` to `path` signed with Epistula v2 by `keys`, as a miner does.
    pub async fn signed(
        &mut self,
        method: &str,
        path: &str,
        keys: &schnorrkel::Keypair,
        body: Vec<u8>,
    ) -> TestResponse {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::CONTENT_TYPE, "application/json");
        let request = epistula_signed(request, keys, &body);
        self.send(request.body(Body::from(body)).unwrap()).await
    }

    /// The miner `keys` answers its offer `offer` (a JSON offer as the long poll gives it) with
    /// `decision`, `accept` or `decline`.
    pub async fn decide_offer(
        &mut self,
        keys: &schnorrkel::Keypair,
        offer: &Value,
        decision: &str,
    ) -> StatusCode {
        let id = offer["id"].as_str().expect("an offer's id");
        let path = format!("/api/v1/miner/offers/{id}/{decision}");
        self.signed("POST", &path, keys, Vec::new()).await.status
    }

    /// Registers a miner for each of `seeds` (`miner_keys`) for `task_types`, with models up to 8 B
    /// parameters; their key pairs.
    pub async fn register_miners(
        &mut self,
        seeds: std::ops::RangeInclusive<u8>,
        task_types: &[&str],
    ) -> Vec<schnorrkel::Keypair> {
        let mut miners = Vec::new();
        for seed in seeds {
            let keys = miner_keys(seed);
            self.register_miner(&keys, task_types, 8_000_000_000).await;
            miners.push(keys);
        }
        miners
    }

    /// Registers the miner `keys` for `task_types` with models up to `max_parameters`.
    pub async fn register_miner(
        &mut self,
        keys: &schnorrkel::Keypair,
        task_types: &[&str],
        max_parameters: u64,
    ) {
        let body = json!({"task_types": task_types, "max_parameters": max_parameters});
        let registered = self
            .signed(
                "POST",
                "/api/v1/miner/register",
                keys,
                body.to_string().into_bytes(),
            )
            .await;
        assert_eq!(registered.status, StatusCode::OK, "{}", registered.body);
    }
}

/// The states a task's event list (`GET /api/v1/tasks/{id}/events`) moved it to, in order.
pub fn event_states(events: &Value) -> Vec<String> {
    events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["to_state"].as_str().unwrap().to_string())
        .collect()
}

impl TestApp {
    /// The reasons of task `id`'s events, in order, as its owner (`key`) reads them.
    pub async fn event_reasons(&mut self, key: &str, id: &str) -> Vec<String> {
        let events = self
            .api(
                "GET",
                &format!("/api/v1/tasks/{id}/events"),
                Some(key),
                None,
            )
            .await
            .json();
        events["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["reason"].as_str().unwrap().to_string())
            .collect()
    }
}

/// The challenge a hotkeys page shows.
pub fn challenge_on(page: &str) -> String {
    let marker = "id=\"challenge\"";
    let at = page.find(marker).expect("a challenge field");
    let value = &page[at..];
    let start = value.find("value=\"").unwrap() + "value=\"".len();
    value[start..].split('"').next().unwrap().to_string()
}

pub fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// A tar holding `files`, as a miner's artifact.
pub fn artifact(files: &[(&str, &str)]) -> Vec<u8> {
    artifact_stamped(files, 0)
}

/// `artifact` with every entry's modification time and owner set to `stamp`: the same files packed
/// at another time, by another user.
pub fn artifact_stamped(files: &[(&str, &str)], stamp: u64) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for (name, text) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(stamp);
        header.set_uid(stamp);
        header.set_cksum();
        tar.append_data(&mut header, name, text.as_bytes()).unwrap();
    }
    tar.into_inner().unwrap()
}

/// The signed `PUT …/submission` of `artifact` to task `id` by `keys`, declaring `declared`.
pub fn submission_request(
    id: &str,
    keys: &schnorrkel::Keypair,
    artifact: Body,
    signed_over: &[u8],
    declared: &str,
) -> Request<Body> {
    let request = Request::put(format!("/api/v1/miner/tasks/{id}/submission"))
        .header("x-artifact-sha256", declared);
    epistula_signed(request, keys, signed_over)
        .body(artifact)
        .unwrap()
}

impl TestApp {
    /// Submits `artifact` to task `id` as the miner `keys`, declaring `declared` as its SHA-256.
    pub async fn submit_artifact(
        &mut self,
        id: &str,
        keys: &schnorrkel::Keypair,
        artifact: &[u8],
        declared: &str,
    ) -> TestResponse {
        let request =
            submission_request(id, keys, Body::from(artifact.to_vec()), artifact, declared);
        self.send(request).await
    }

    /// Serves `request` on a task of its own (no cookies), so that a test can act while it is being
    /// answered: the answer, once it is complete.
    pub fn spawn(&self, request: Request<Body>) -> tokio::task::JoinHandle<TestResponse> {
        let router = self.router.clone();
        tokio::spawn(async move {
            let response = router.oneshot(request).await.unwrap();
            let status = response.status();
            let headers = response.headers().clone();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            TestResponse {
                status,
                headers,
                body: String::from_utf8_lossy(&bytes).into_owned(),
            }
        })
    }

    /// The platform's scores of task `id`: (miner id, points, reason), by miner.
    pub async fn scores_of(&self, id: &str) -> Vec<(String, i64, String)> {
        sqlx::query_as(
            "SELECT miner_id, points, reason FROM scores WHERE task_id = $1 ORDER BY miner_id",
        )
        .bind(id)
        .fetch_all(self.state.platform.db.pool())
        .await
        .unwrap()
    }

    /// Moves task `id`'s deadline into the past and runs the jobs: the window closes and, with an
    /// evaluator, the submissions are evaluated and the task scored.
    pub async fn close_window(&self, id: &str) {
        let pool = self.state.platform.db.pool();
        sqlx::query("UPDATE tasks SET deadline_at = 1 WHERE id = $1")
            .bind(id)
            .execute(pool)
            .await
            .unwrap();
        sqlx::query("UPDATE jobs SET run_at = 0 WHERE subject_id = $1 AND state = 'queued'")
            .bind(id)
            .execute(pool)
            .await
            .unwrap();
        self.run_jobs().await;
    }
}

/// The id of the miner `keys` is.
pub async fn miner_id(app: &TestApp, keys: &schnorrkel::Keypair) -> String {
    let hotkey = domain::miners::Hotkey::from_public_key(keys.public.to_bytes());
    domain::miners::by_hotkey(&app.state.platform.db, &hotkey)
        .await
        .unwrap()
        .expect("a registered miner")
        .id
}

/// The fixture evaluator (`tests/fixtures/loss_evaluator.py`) with `flags`, through the process
/// runner, with an empty base model directory for each of `models`.
pub fn fixture_evaluator(
    models: &std::path::Path,
    model_ids: &[&str],
    flags: &[&str],
) -> domain::evaluation::Evaluator {
    for id in model_ids {
        std::fs::create_dir_all(models.join(id)).unwrap();
    }
    let mut command = vec![
        "python3".to_string(),
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/loss_evaluator.py"
        )
        .to_string(),
    ];
    command.extend(flags.iter().map(|f| f.to_string()));
    domain::evaluation::Evaluator {
        runner: std::sync::Arc::new(runner::ProcessRunner::default()),
        command,
        in_container: false,
        limits: runner::Limits {
            time: std::time::Duration::from_secs(60),
            ..Default::default()
        },
        base_models: models.to_path_buf(),
        families: None,
    }
}

/// Where dataset `id`'s latest validation stored its splits.
pub async fn splits_of(app: &TestApp, id: &str) -> domain::datasets::dataset::Splits {
    let row = domain::db::datasets::by_id(app.state.platform.db.pool(), id)
        .await
        .unwrap()
        .expect("a dataset");
    domain::datasets::dataset::Splits::stored(row.splits_prefix, id)
}

/// The `instruction` of every row of the stored JSONL object `key`.
pub async fn instructions_in(app: &TestApp, key: &domain::storage::ObjectKey) -> Vec<String> {
    let bytes = domain::storage::collect(app.state.platform.store.get(key).await.unwrap())
        .await
        .unwrap();
    String::from_utf8(bytes)
        .unwrap()
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap()["instruction"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

/// Who the secrecy walk calls every route as: the owner (API key, then browser session), another
/// customer, an anonymous caller, and, where given, a miner signing every request with its hotkey.
pub struct Walkers<'a> {
    pub owner_email: &'a str,
    pub owner_key: &'a str,
    pub other_key: &'a str,
    pub miner: Option<&'a schnorrkel::Keypair>,
}

impl<'a> Walkers<'a> {
    pub fn customers(owner_email: &'a str, owner_key: &'a str, other_key: &'a str) -> Self {
        Walkers {
            owner_email,
            owner_key,
            other_key,
            miner: None,
        }
    }

    pub fn and_miner(self, keys: &'a schnorrkel::Keypair) -> Self {
        Walkers {
            miner: Some(keys),
            ..self
        }
    }
}

/// Calls every route the router has — each method it answers, with each parameter filled with one of
/// `ids` (and object-key parameters with each of `object_keys`) — as every one of `walkers`, and
/// checks that no answer holds one of `secrets`.
pub async fn assert_no_route_returns(
    app: &mut TestApp,
    ids: &[&str],
    object_keys: &[String],
    secrets: &[String],
    walkers: &Walkers<'_>,
) {
    let routes = server::http::route_list();
    let listed = |path: &str| routes.iter().any(|(_, p)| p == path);
    for expected in [
        "/",
        "/datasets/{id}",
        "/api/v1/datasets/{id}",
        "/objects/{*key}",
        "/fn/dataset",
        "/api/v1/miner/tasks/{id}/training-data",
    ] {
        assert!(
            listed(expected),
            "{expected} is not in the route list: {routes:?}"
        );
    }
    // (method, path, the id it was filled with)
    let mut requests: Vec<(String, String, String)> = Vec::new();
    for (method, path) in &routes {
        for id in ids {
            let fillings: Vec<String> = if path.contains("{*key}") {
                object_keys.to_vec()
            } else {
                vec![String::new()]
            };
            for key in &fillings {
                let filled: Vec<String> = path
                    .split('/')
                    .map(|segment| match segment {
                        "{*key}" => key.clone(),
                        s if s.starts_with('{') || s.starts_with(':') => id.to_string(),
                        s => s.to_string(),
                    })
                    .collect();
                let filled = filled.join("/");
                requests.push((method.to_string(), filled.clone(), id.to_string()));
                if method != "GET" {
                    requests.push(("GET".into(), filled.clone(), id.to_string()));
                }
                if path.starts_with("/objects/") {
                    let forged =
                        format!("{filled}?access=read&expires=99999999999999&signature=00");
                    requests.push((method.to_string(), forged, id.to_string()));
                }
            }
        }
    }
    requests.sort();
    requests.dedup();
    let check = |who: &str, request: &(String, String, String), body: &str| {
        for secret in secrets {
            assert!(
                !body.contains(secret.as_str()),
                "{} {} as {who} returned test row {secret:?}",
                request.0,
                request.1
            );
        }
    };
    let callers: [(&str, Option<&str>); 3] = [
        ("owner", Some(walkers.owner_key)),
        ("another customer", Some(walkers.other_key)),
        ("anonymous", None),
    ];
    for (who, key) in callers {
        app.forget_cookies();
        for request in &requests {
            // The owner may delete their own file (`fine_tuning.rs` tests it); done here, the rest of
            // the walk would no longer reach the dataset's rows.
            if who == "owner" && request.0 == "DELETE" && request.1.starts_with("/v1/files/") {
                continue;
            }
            let response = send_walk_request(app, request, key, None).await;
            check(who, request, &response.body);
        }
    }
    if let Some(miner) = walkers.miner {
        app.forget_cookies();
        for request in &requests {
            let response = send_walk_request(app, request, None, Some(miner)).await;
            check("the signed miner", request, &response.body);
        }
    }
    // The owner's browser session, last: the walk signs it out on the way.
    app.forget_cookies();
    app.sign_in(walkers.owner_email, PASSWORD).await;
    for request in &requests {
        let response = send_walk_request(app, request, None, None).await;
        check("owner's browser", request, &response.body);
    }
    // The walk reached the dataset (so the checks above could see its rows had they been there).
    app.forget_cookies();
    let shown = app
        .api(
            "GET",
            &format!("/api/v1/datasets/{}", ids[0]),
            Some(walkers.owner_key),
            None,
        )
        .await;
    assert_eq!(shown.status, StatusCode::OK);
}

/// One request of the walk: a server function gets the id as its argument, other writes an empty
/// body; a miner signs it with Epistula as the miner API wants.
async fn send_walk_request(
    app: &mut TestApp,
    (method, path, id): &(String, String, String),
    bearer: Option<&str>,
    miner: Option<&schnorrkel::Keypair>,
) -> TestResponse {
    let mut request = Request::builder()
        .method(method.as_str())
        .uri(path.as_str());
    if let Some(key) = bearer {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    let body = if path.starts_with("/fn/") {
        request = request.header("content-type", "application/x-www-form-urlencoded");
        format!("id={id}&mapping=%5B%5D")
    } else {
        String::new()
    };
    if let Some(keys) = miner {
        request = epistula_signed(request, keys, body.as_bytes());
    }
    // An event stream of a task that has not ended never ends: what it sends in its first second.
    let brief = path
        .ends_with("/stream")
        .then_some(std::time::Duration::from_secs(1));
    app.send_within(request.body(Body::from(body)).unwrap(), brief)
        .await
}
