//! Datasets through the API: upload, inspection, validation as background work, the report, limits,
//! and the secrecy of the test split. Each test runs on SQLite and on PostgreSQL.

mod common;

use axum::http::StatusCode;
use common::TestApp;
use domain::datasets::dataset::test_key;
use domain::storage;
use serde_json::{Value, json};

/// `n` good instruct rows with unique text, then some defective ones.
fn instruct_file(n: usize) -> Vec<u8> {
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

async fn validated_dataset(app: &mut TestApp, key: &str) -> Value {
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

testkit::on_both_databases! {
    async fn an_upload_is_inspected_and_a_mapping_suggested(db: Database) {
        let mut app = TestApp::new(db).await;
        let key = app.customer_key("ada@example.org").await;
        let response = app.upload(&key, "faq", instruct_file(10)).await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.body);
        let dataset = response.json();
        assert_eq!(dataset["state"], "uploaded");
        assert_eq!(dataset["format"], "jsonl");
        assert_eq!(dataset["columns"], json!(["answer", "question"]));
        assert_eq!(dataset["preview"].as_array().unwrap().len(), 5);
        assert_eq!(dataset["suggested_mappings"]["instruct"], json!({"instruction": "question", "output": "answer"}));
        assert_eq!(dataset["sha256"].as_str().unwrap().len(), 64);
        let listed = app.api("GET", "/api/v1/datasets", Some(&key), None).await.json();
        assert_eq!(listed["datasets"][0]["id"], dataset["id"]);
    }

    async fn validation_runs_in_the_background_and_reports_by_reason(db: Database) {
        let mut app = TestApp::new(db).await;
        let key = app.customer_key("ada@example.org").await;
        let dataset = validated_dataset(&mut app, &key).await;
        assert_eq!(dataset["state"], "ready", "{dataset}");
        let report = &dataset["report"];
        assert_eq!(report["total_rows"], 303);
        assert_eq!(report["usable_rows"], 300);
        assert_eq!((report["train_rows"].as_u64(), report["test_rows"].as_u64()), (Some(270), Some(30)));
        assert_eq!(report["rejected"]["empty_required_field"]["examples"][0]["line"], 301);
        assert_eq!(report["rejected"]["unparseable"]["examples"][0]["line"], 302);
        assert_eq!(report["rejected"]["duplicate"]["count"], 1);
        assert_eq!(dataset["preview"], json!([]), "no preview once the dataset is split");
        let id = dataset["id"].as_str().unwrap();
        let test = storage::collect(app.state.platform.store.get(&test_key(id)).await.unwrap()).await.unwrap();
        assert_eq!(String::from_utf8(test).unwrap().lines().count(), 30);
    }

    async fn too_few_usable_rows_refuse_the_dataset_and_keep_no_splits(db: Database) {
        let mut app = TestApp::new(db).await;
        let key = app.customer_key("ada@example.org").await;
        let id = app.upload(&key, "small", instruct_file(50)).await.json()["id"].as_str().unwrap().to_string();
        app.api("POST", &format!("/api/v1/datasets/{id}/validation"), Some(&key), Some(json!({"task_type": "instruct"}))).await;
        app.run_jobs().await;
        let dataset = app.api("GET", &format!("/api/v1/datasets/{id}"), Some(&key), None).await.json();
        assert_eq!(dataset["state"], "refused");
        assert!(dataset["error"].as_str().unwrap().contains("only 50 of 53 rows are usable; at least 100"), "{dataset}");
        assert_eq!(app.stored_files(), vec![format!("datasets/{id}/source")]);
    }

    async fn bad_uploads_are_refused_and_leave_nothing_behind(db: Database) {
        let mut app = TestApp::new(db).await;
        let key = app.customer_key("ada@example.org").await;
        let binary = app.upload(&key, "binary", b"\x7fELF\x02\x01\x01\x00".to_vec()).await;
        assert_eq!(binary.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(binary.json()["error"]["field"], "file");
        assert!(binary.json()["error"]["message"].as_str().unwrap().contains("not JSONL, JSON, CSV or Parquet"));
        let huge = app.upload(&key, "huge", vec![b'{'; 5 * 1024 * 1024]).await;
        assert_eq!(huge.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(huge.json()["error"]["message"].as_str().unwrap().contains("limit for one dataset"));
        assert!(app.stored_files().is_empty(), "{:?}", app.stored_files());
        // The quota: 6 MiB in all; two 3.5 MiB files do not fit.
        let big = instruct_file(50_000);
        assert!(big.len() > 3 * 1024 * 1024 && big.len() < 4 * 1024 * 1024, "{}", big.len());
        assert_eq!(app.upload(&key, "first", big.clone()).await.status, StatusCode::CREATED);
        let over = app.upload(&key, "second", big).await;
        assert_eq!(over.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(over.json()["error"]["message"].as_str().unwrap().contains("storage quota"), "{}", over.body);
        assert_eq!(app.stored_files().len(), 1);
        let unnamed = app.api("POST", "/api/v1/datasets", Some(&key), None).await;
        assert_eq!(unnamed.json()["error"]["field"], "name");
    }

    async fn a_mapping_must_fit_the_task_type_and_the_file(db: Database) {
        let mut app = TestApp::new(db).await;
        let key = app.customer_key("ada@example.org").await;
        let id = app.upload(&key, "faq", instruct_file(10)).await.json()["id"].as_str().unwrap().to_string();
        let path = format!("/api/v1/datasets/{id}/validation");
        let wrong = app.api("POST", &path, Some(&key), Some(json!({"task_type": "instruct", "mapping": {"instruction": "question", "output": "reply"}}))).await;
        assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(wrong.json()["error"]["message"].as_str().unwrap().contains("column \"reply\""));
        let dpo = app.api("POST", &path, Some(&key), Some(json!({"task_type": "dpo"}))).await;
        assert_eq!(dpo.json()["error"]["field"], "mapping");
        let other = app.customer_key("bob@example.org").await;
        assert_eq!(app.api("GET", &format!("/api/v1/datasets/{id}"), Some(&other), None).await.status, StatusCode::NOT_FOUND);
        assert_eq!(app.api("POST", &path, Some(&other), Some(json!({"task_type": "instruct"}))).await.status, StatusCode::NOT_FOUND);
    }

    async fn no_route_returns_the_test_split(db: Database) {
        let mut app = TestApp::new(db).await;
        let owner_key = app.customer_key("owner@example.org").await;
        let other_key = app.customer_key("other@example.org").await;
        let dataset = validated_dataset(&mut app, &owner_key).await;
        let id = dataset["id"].as_str().unwrap().to_string();
        let test = storage::collect(app.state.platform.store.get(&test_key(&id)).await.unwrap()).await.unwrap();
        let secrets: Vec<String> = String::from_utf8(test)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str::<Value>(line).unwrap()["instruction"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(secrets.len(), 30);

        // Every GET route of the router, and the server functions, with this dataset's id.
        let mut paths: Vec<String> = ["/", "/signin", "/signup", "/dashboard", "/account/api-keys", "/leaderboards"]
            .map(String::from)
            .to_vec();
        paths.extend(["/healthz", "/metrics", "/api/v1/account", "/api/v1/api-keys", "/api/v1/datasets"].map(String::from));
        paths.push(format!("/api/v1/datasets/{id}"));
        paths.push(format!("/objects/datasets/{id}/test.jsonl"));
        paths.push(format!("/objects/datasets/{id}/test.jsonl?access=read&expires=99999999999999&signature=00"));
        let callers: [(&str, Option<&str>); 3] = [("owner", Some(&owner_key)), ("another customer", Some(&other_key)), ("anonymous", None)];
        for (who, key) in callers {
            for path in &paths {
                let response = app.api("GET", path, key, None).await;
                for secret in &secrets {
                    assert!(!response.body.contains(secret.as_str()), "GET {path} as {who} returned test row {secret:?}");
                }
            }
            for function in ["/fn/session", "/fn/api-keys"] {
                let response = app.api("POST", function, key, None).await;
                assert!(secrets.iter().all(|s| !response.body.contains(s.as_str())), "{function} as {who}");
            }
        }
        // The owner's browser session too.
        app.forget_cookies();
        app.sign_in("owner@example.org", common::PASSWORD).await;
        for path in &paths {
            let body = app.get(path).await.body;
            assert!(secrets.iter().all(|s| !body.contains(s.as_str())), "GET {path} in the owner's browser");
        }
        // The training split does reach its rows (so the check above can see rows at all).
        let train = storage::collect(app.state.platform.store.get(&domain::datasets::dataset::train_key(&id)).await.unwrap()).await.unwrap();
        let train = String::from_utf8(train).unwrap();
        assert!(secrets.iter().all(|s| !train.contains(s.as_str())), "test rows are not in the training split");
    }
}
