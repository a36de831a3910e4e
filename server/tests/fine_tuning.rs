//! OpenAI's fine-tuning API under `/v1`: files are datasets, a job validates its training file and
//! becomes a task, its status, events and errors have OpenAI's shapes; and what another customer, or
//! the owner once the file is split, gets of it. SQLite and PostgreSQL. (The stock SDK drives the whole
//! loop in `end2end/tests/openai_sdk.rs`.)

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::{TestApp, TestResponse};
use serde_json::{Value, json};

const QWEN: &str = "Qwen/Qwen2.5-0.5B-Instruct";

/// 300 rows in OpenAI's chat format, each with a secret-looking answer.
fn chat_file() -> Vec<u8> {
    (0..300)
        .map(|i| {
            json!({"messages": [
                {"role": "user", "content": format!("What is secret number {i}?")},
                {"role": "assistant", "content": format!("Secret number {i} is {}.", i * 7)}
            ]})
            .to_string()
                + "\n"
        })
        .collect::<String>()
        .into_bytes()
}

/// Rows `range` in OpenAI's preference format.
fn preference_file(range: std::ops::Range<usize>) -> Vec<u8> {
    range
        .map(|i| {
            json!({
                "input": {"messages": [{"role": "user", "content": format!("Which colour is number {i}?")}]},
                "preferred_output": [{"role": "assistant", "content": format!("Number {i} is blue.")}],
                "non_preferred_output": [{"role": "assistant", "content": "I do not know."}]
            })
            .to_string()
                + "\n"
        })
        .collect::<String>()
        .into_bytes()
}

/// `POST /v1/files` as the SDK sends it: a multipart form with `purpose` and `file`.
async fn upload(app: &mut TestApp, key: &str, name: &str, bytes: &[u8]) -> TestResponse {
    let boundary = "crucible-test-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nfine-tune\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let request = Request::post("/v1/files")
        .header(header::AUTHORIZATION, format!("Bearer {key}"))
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(Body::from(body))
        .unwrap();
    app.send(request).await
}

async fn uploaded(app: &mut TestApp, key: &str, name: &str, bytes: &[u8]) -> String {
    let file = upload(app, key, name, bytes).await;
    assert_eq!(file.status, StatusCode::OK, "{}", file.body);
    file.json()["id"].as_str().unwrap().to_string()
}

/// OpenAI's error shape, with its type and param.
fn assert_openai_error(
    response: &TestResponse,
    status: StatusCode,
    kind: &str,
    param: Option<&str>,
) {
    assert_eq!(response.status, status, "{}", response.body);
    let error = &response.json()["error"];
    assert_eq!(error["type"], kind, "{}", response.body);
    assert_eq!(error["param"].as_str(), param, "{}", response.body);
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{}",
        response.body
    );
    assert!(error["code"].is_string(), "{}", response.body);
}

fn messages(events: &Value) -> Vec<String> {
    events["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap().to_string())
        .collect()
}

testkit::on_both_databases! {
    async fn a_fine_tuning_job_validates_its_chat_file_becomes_a_task_and_is_cancelled(db: Database) {
        let mut app = TestApp::new(db).await;
        let key = app.customer_key("owner@example.org").await;
        let file = upload(&mut app, &key, "chat.jsonl", &chat_file()).await;
        assert_eq!(file.status, StatusCode::OK, "{}", file.body);
        let file = file.json();
        assert_eq!((file["object"].as_str(), file["purpose"].as_str(), file["status"].as_str()), (Some("file"), Some("fine-tune"), Some("processed")));
        assert_eq!(file["filename"], "chat.jsonl");
        let id = file["id"].as_str().unwrap();
        let content = app.api("GET", &format!("/v1/files/{id}/content"), Some(&key), None).await;
        assert_eq!(content.body.as_bytes(), chat_file(), "the owner reads the file back before a job splits it");

        let request = json!({
            "model": QWEN, "training_file": id, "seed": 5, "suffix": "secrets",
            "method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 3, "batch_size": 8}}},
            "metadata": {"team": "tests"}
        });
        let created = app.api("POST", "/v1/fine_tuning/jobs", Some(&key), Some(request)).await;
        assert_eq!(created.status, StatusCode::OK, "{}", created.body);
        let job = created.json();
        assert_eq!((job["object"].as_str(), job["status"].as_str()), (Some("fine_tuning.job"), Some("validating_files")));
        assert_eq!((job["task_type"].as_str(), job["seed"].as_u64()), (Some("chat"), Some(5)), "a chat file trains a chat task");
        assert_eq!(job["hyperparameters"], json!({"n_epochs": 3, "batch_size": 8}), "recorded as sent");
        assert_eq!(job["method"]["supervised"]["hyperparameters"]["n_epochs"], 3);
        let job_id = job["id"].as_str().unwrap().to_string();

        app.run_jobs().await;
        let job = app.api("GET", &format!("/v1/fine_tuning/jobs/{job_id}"), Some(&key), None).await.json();
        assert_eq!(job["status"], "queued", "looking for miners: {job}");
        let task = app.api("GET", &format!("/api/v1/tasks/{}", job["task_id"].as_str().unwrap()), Some(&key), None).await;
        assert_eq!(task.status, StatusCode::OK, "{}", task.body);
        assert_eq!((task.json()["task_type"].as_str(), task.json()["model_id"].as_str()), (Some("chat"), Some(QWEN)));

        let events = app.api("GET", &format!("/v1/fine_tuning/jobs/{job_id}/events"), Some(&key), None).await.json();
        let said = messages(&events);
        assert!(said.iter().any(|m| m.contains("recorded as sent") && m.contains("its own")), "{said:?}");
        assert!(said.iter().any(|m| m.starts_with("Files validated: 270 training rows, 30 held out")), "{said:?}");
        assert!(said.last().unwrap().starts_with("Created fine-tuning job"), "newest first: {said:?}");
        let two = app.api("GET", &format!("/v1/fine_tuning/jobs/{job_id}/events?limit=2"), Some(&key), None).await.json();
        assert_eq!((two["data"].as_array().unwrap().len(), two["has_more"].as_bool()), (2, Some(true)));
        let after = two["data"][1]["id"].as_str().unwrap();
        let next = app.api("GET", &format!("/v1/fine_tuning/jobs/{job_id}/events?limit=100&after={after}"), Some(&key), None).await.json();
        assert_eq!(messages(&next), said[2..].to_vec(), "the next page follows the cursor");

        // Split, the file holds secret test rows: no route returns it, to its owner either.
        let content = app.api("GET", &format!("/v1/files/{id}/content"), Some(&key), None).await;
        assert_openai_error(&content, StatusCode::CONFLICT, "invalid_request_error", None);
        assert!(!content.body.contains("Secret number"), "{}", content.body);
        let refused = app.api("DELETE", &format!("/v1/files/{id}"), Some(&key), None).await;
        assert_openai_error(&refused, StatusCode::CONFLICT, "invalid_request_error", None);

        let cancelled = app.api("POST", &format!("/v1/fine_tuning/jobs/{job_id}/cancel"), Some(&key), None).await;
        assert_eq!(cancelled.json()["status"], "cancelled", "{}", cancelled.body);
        assert!(cancelled.json()["finished_at"].is_i64());
        let again = app.api("POST", &format!("/v1/fine_tuning/jobs/{job_id}/cancel"), Some(&key), None).await;
        assert_openai_error(&again, StatusCode::CONFLICT, "invalid_request_error", None);
        let checkpoints = app.api("GET", &format!("/v1/fine_tuning/jobs/{job_id}/checkpoints"), Some(&key), None).await.json();
        assert_eq!(checkpoints["data"], json!([]), "nothing was scored");
    }

    async fn requests_openai_would_refuse_are_refused_in_its_shape(db: Database) {
        let mut app = TestApp::new(db).await;
        let key = app.customer_key("owner@example.org").await;
        let id = uploaded(&mut app, &key, "chat.jsonl", &chat_file()).await;
        let cases = [
            (json!({"model": "no/such-model", "training_file": id}), "model"),
            (json!({"model": QWEN, "training_file": "file-nothing"}), "training_file"),
            (json!({"model": QWEN, "training_file": id, "method": {"type": "reinforcement"}}), "method.type"),
            (json!({"model": QWEN, "training_file": id, "method": {"type": "dpo"}}), "training_file"),
            (json!({"model": QWEN, "training_file": id, "hours_to_complete": 10000}), "hours_to_complete"),
            (json!({"model": QWEN, "training_file": id, "suffix": "x".repeat(65)}), "suffix"),
        ];
        for (body, param) in cases {
            let refused = app.api("POST", "/v1/fine_tuning/jobs", Some(&key), Some(body)).await;
            assert_openai_error(&refused, StatusCode::BAD_REQUEST, "invalid_request_error", Some(param));
        }
        app.forget_cookies();
        let no_key = app.api("GET", "/v1/fine_tuning/jobs", None, None).await;
        assert_openai_error(&no_key, StatusCode::UNAUTHORIZED, "authentication_error", None);
        let wrong_key = app.api("GET", "/v1/files", Some("crucible_not-a-key"), None).await;
        assert_openai_error(&wrong_key, StatusCode::UNAUTHORIZED, "authentication_error", None);
        let nowhere = app.api("GET", "/v1/models", Some(&key), None).await;
        assert_openai_error(&nowhere, StatusCode::NOT_FOUND, "invalid_request_error", None);
        let missing = app.api("GET", "/v1/fine_tuning/jobs/ftjob-nothing", Some(&key), None).await;
        assert_openai_error(&missing, StatusCode::NOT_FOUND, "invalid_request_error", None);
        let jobs = app.api("GET", "/v1/fine_tuning/jobs", Some(&key), None).await.json();
        assert_eq!(jobs, json!({"object": "list", "data": [], "has_more": false}), "no refused request made a job");
    }

    async fn a_preference_file_in_openais_layout_makes_a_dpo_job_and_an_own_test_file_stays_secret(db: Database) {
        let mut app = TestApp::new(db).await;
        let key = app.customer_key("owner@example.org").await;
        let training = uploaded(&mut app, &key, "prefs.jsonl", &preference_file(0..300)).await;
        let test = uploaded(&mut app, &key, "prefs-test.jsonl", &preference_file(1000..1100)).await;
        let request = json!({"model": QWEN, "training_file": training, "validation_file": test, "method": {"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.1}}}});
        let created = app.api("POST", "/v1/fine_tuning/jobs", Some(&key), Some(request)).await;
        assert_eq!(created.status, StatusCode::OK, "{}", created.body);
        assert_eq!(created.json()["task_type"], "dpo");
        let job_id = created.json()["id"].as_str().unwrap().to_string();
        app.run_jobs().await;
        let job = app.api("GET", &format!("/v1/fine_tuning/jobs/{job_id}"), Some(&key), None).await.json();
        assert_eq!(job["status"], "queued", "{job}");
        let said = messages(&app.api("GET", &format!("/v1/fine_tuning/jobs/{job_id}/events"), Some(&key), None).await.json());
        assert!(said.iter().any(|m| m.starts_with("Files validated: 300 training rows, 100 held out")), "{said:?}");

        // The own test file is the whole secret split: its content is refused, and it cannot train.
        let content = app.api("GET", &format!("/v1/files/{test}/content"), Some(&key), None).await;
        assert_openai_error(&content, StatusCode::CONFLICT, "invalid_request_error", None);
        assert!(!content.body.contains("colour is number"), "{}", content.body);
        let reuse = json!({"model": QWEN, "training_file": test, "method": {"type": "dpo"}});
        let refused = app.api("POST", "/v1/fine_tuning/jobs", Some(&key), Some(reuse)).await;
        assert_openai_error(&refused, StatusCode::BAD_REQUEST, "invalid_request_error", Some("training_file"));
    }

    async fn another_customer_sees_and_touches_nothing_of_a_job_or_its_files(db: Database) {
        let mut app = TestApp::new(db).await;
        let key = app.customer_key("owner@example.org").await;
        let other = app.customer_key("other@example.org").await;
        let file = uploaded(&mut app, &key, "chat.jsonl", &chat_file()).await;
        let spare = uploaded(&mut app, &key, "spare.jsonl", &chat_file()).await;
        let created = app.api("POST", "/v1/fine_tuning/jobs", Some(&key), Some(json!({"model": QWEN, "training_file": file}))).await;
        let job = created.json()["id"].as_str().unwrap().to_string();
        app.run_jobs().await;

        for (method, path) in [
            ("GET", format!("/v1/files/{spare}")),
            ("GET", format!("/v1/files/{spare}/content")),
            ("DELETE", format!("/v1/files/{spare}")),
            ("GET", format!("/v1/fine_tuning/jobs/{job}")),
            ("GET", format!("/v1/fine_tuning/jobs/{job}/events")),
            ("GET", format!("/v1/fine_tuning/jobs/{job}/checkpoints")),
            ("POST", format!("/v1/fine_tuning/jobs/{job}/cancel")),
        ] {
            let answer = app.api(method, &path, Some(&other), None).await;
            assert_openai_error(&answer, StatusCode::NOT_FOUND, "invalid_request_error", None);
        }
        for (body, param) in [
            (json!({"model": QWEN, "training_file": spare}), "training_file"),
            (json!({"model": QWEN, "training_file": uploaded(&mut app, &other, "mine.jsonl", &chat_file()).await, "validation_file": spare}), "validation_file"),
        ] {
            let refused = app.api("POST", "/v1/fine_tuning/jobs", Some(&other), Some(body)).await;
            assert_openai_error(&refused, StatusCode::BAD_REQUEST, "invalid_request_error", Some(param));
        }
        assert_eq!(app.api("GET", "/v1/fine_tuning/jobs", Some(&other), None).await.json()["data"], json!([]));
        let theirs = app.api("GET", "/v1/files", Some(&other), None).await.json();
        assert_eq!(theirs["data"].as_array().unwrap().len(), 1, "only their own file: {theirs}");
        // The owner's job and spare file are untouched.
        assert_eq!(app.api("GET", &format!("/v1/fine_tuning/jobs/{job}"), Some(&key), None).await.json()["status"], "queued");
        let deleted = app.api("DELETE", &format!("/v1/files/{spare}"), Some(&key), None).await;
        assert_eq!(deleted.json(), json!({"id": spare, "object": "file", "deleted": true}));
        let gone = app.api("GET", &format!("/v1/files/{spare}"), Some(&key), None).await;
        assert_openai_error(&gone, StatusCode::NOT_FOUND, "invalid_request_error", None);
    }
}
