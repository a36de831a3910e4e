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
        let platform = Platform {
            db,
            store: std::sync::Arc::new(store),
            signing_key,
            job_lease_ms: domain::jobs::LEASE_MS,
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
            dataset_limits: domain::datasets::Limits {
                min_usable_rows: 100,
                ..Default::default()
            },
            upload_limits: domain::datasets::UploadLimits {
                max_file_bytes: 4 * 1024 * 1024,
                quota_bytes: 6 * 1024 * 1024,
            },
        };
        let leptos = LeptosOptions::builder()
            .output_name("crucible")
            .site_root(dir.path().join("site").to_string_lossy().as_ref())
            .build();
        let settings = HttpSettings {
            secure_cookies: false,
            public_url: public_url.into(),
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
    pub fn configure(&mut self, change: impl FnOnce(&mut Platform)) {
        change(&mut self.state.platform);
        self.router = router(self.state.clone());
    }

    /// Runs background jobs until none is due.
    pub async fn run_jobs(&self) {
        while domain::jobs::run_next(&self.state.platform).await.unwrap() {}
    }

    pub fn session_cookie(&self) -> Option<&String> {
        self.cookies.get("crucible_session")
    }

    pub fn forget_cookies(&mut self) {
        self.cookies.clear();
    }

    pub async fn send(&mut self, mut request: Request<Body>) -> TestResponse {
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
        let bytes = tokio::time::timeout(REQUEST_TIMEOUT, response.into_body().collect())
            .await
            .unwrap_or_else(|_| panic!("{what}: the body did not end in {REQUEST_TIMEOUT:?}"))
            .unwrap()
            .to_bytes();
        TestResponse {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
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
        let headers = domain::miners::epistula::sign(keys, &body, domain::clock::now_ms(), None);
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::CONTENT_TYPE, "application/json");
        let named = [
            ("Epistula-Version", headers.version),
            ("Epistula-Timestamp", headers.timestamp),
            ("Epistula-Uuid", headers.uuid),
            ("Epistula-Signed-By", headers.signed_by),
            ("Epistula-Request-Signature", headers.signature),
        ];
        for (name, value) in named {
            if let Some(value) = value {
                request = request.header(name, value);
            }
        }
        self.send(request.body(Body::from(body)).unwrap()).await
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
