//! Datasets through the API: upload, inspection, validation as background work, the report, limits,
//! and the secrecy of the test split. Each test runs on SQLite and on PostgreSQL.

mod common;

use axum::http::StatusCode;
use common::{
    TestApp, Walkers, assert_no_route_returns, instruct_file, instructions_in, splits_of,
    validated_dataset,
};
use domain::storage;
use serde_json::json;

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
        let test = storage::collect(app.state.platform.store.get(&splits_of(&app, id).await.test()).await.unwrap()).await.unwrap();
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
        let over = app.upload(&key, "second", big.clone()).await;
        assert_eq!(over.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(over.json()["error"]["message"].as_str().unwrap().contains("storage quota"), "{}", over.body);
        assert_eq!(app.stored_files().len(), 1);
        // Two uploads at once, each fitting the room left alone but not together: one is refused.
        let other = app.customer_key("racer@example.org").await;
        let upload = |name: &str| {
            axum::http::Request::post(format!("/api/v1/datasets?name={name}"))
                .header("authorization", format!("Bearer {other}"))
                .body(axum::body::Body::from(big.clone()))
                .unwrap()
        };
        let (a, b) = tokio::join!(app.request(upload("a")), app.request(upload("b")));
        let mut statuses = [a.status(), b.status()];
        statuses.sort();
        assert_eq!(statuses, [StatusCode::CREATED, StatusCode::PAYLOAD_TOO_LARGE]);
        assert_eq!(app.stored_files().len(), 2, "the refused upload is deleted");
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
        let secrets = instructions_in(&app, &splits_of(&app, &id).await.test()).await;
        assert_eq!(secrets.len(), 30);
        let keys = [splits_of(&app, &id).await.test().as_str().to_string()];
        assert_no_route_returns(&mut app, &[&id], &keys, &secrets, &Walkers::customers("owner@example.org", &owner_key, &other_key)).await;
        // The training split does reach its rows (so the check above can see rows at all).
        let train = instructions_in(&app, &splits_of(&app, &id).await.train()).await;
        assert_eq!(train.len(), 270);
        assert!(secrets.iter().all(|s| !train.contains(s)), "test rows are not in the training split");
    }

    async fn an_own_test_file_is_the_whole_test_split_and_stays_secret(db: Database) {
        let mut app = TestApp::new(db).await;
        let owner_key = app.customer_key("owner@example.org").await;
        let other_key = app.customer_key("other@example.org").await;
        let main = app.upload(&owner_key, "faq", instruct_file(300)).await.json();
        // The test file: 40 rows of its own, and 2 that are also in the main file.
        let mut test_file = String::new();
        for i in 0..40 {
            test_file.push_str(&json!({"question": format!("Held-out question {i}?"), "answer": format!("Reply {i}.")}).to_string());
            test_file.push('\n');
        }
        for i in [5, 6] {
            test_file.push_str(&json!({"question": format!("Secret question number {i}?"), "answer": format!("Answer {i}.")}).to_string());
            test_file.push('\n');
        }
        let test = app.upload(&owner_key, "faq-test", test_file.into_bytes()).await.json();
        let (id, test_id) = (main["id"].as_str().unwrap(), test["id"].as_str().unwrap());
        let path = format!("/api/v1/datasets/{id}/validation");
        // Another customer cannot name the owner's file, and a file cannot test itself.
        let foreign = app.customer_key("third@example.org").await;
        let theirs = app.upload(&foreign, "theirs", instruct_file(10)).await.json();
        let refused = app.api("POST", &path, Some(&owner_key), Some(json!({"task_type": "instruct", "test_dataset_id": theirs["id"]}))).await;
        assert_eq!(refused.status, StatusCode::NOT_FOUND, "{}", refused.body);
        let refused = app.api("POST", &path, Some(&owner_key), Some(json!({"task_type": "instruct", "test_dataset_id": id}))).await;
        assert_eq!(refused.json()["error"]["field"], "test_dataset_id");

        let started = app.api("POST", &path, Some(&owner_key), Some(json!({"task_type": "instruct", "test_dataset_id": test_id}))).await;
        assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.body);
        app.run_jobs().await;
        let done = app.api("GET", &format!("/api/v1/datasets/{id}"), Some(&owner_key), None).await.json();
        assert_eq!(done["state"], "ready", "{done}");
        let report = &done["report"];
        assert_eq!(report["test_rows"], 42);
        assert_eq!(report["own_test"]["name"], "faq-test");
        // 300 unique rows, 2 of them in the test file: 298 train.
        assert_eq!(report["train_rows"], 298);
        let held = app.api("GET", &format!("/api/v1/datasets/{test_id}"), Some(&owner_key), None).await.json();
        assert_eq!(held["state"], "held_out");
        assert_eq!(held["preview"], json!([]), "a held-out file shows no rows");

        let secrets = instructions_in(&app, &splits_of(&app, id).await.test()).await;
        assert_eq!(secrets.len(), 42);
        let train = instructions_in(&app, &splits_of(&app, id).await.train()).await;
        assert!(secrets.iter().all(|s| !train.contains(s)), "no test row is trained on");
        let keys = [splits_of(&app, id).await.test().as_str().to_string(), format!("datasets/{test_id}/source")];
        assert_no_route_returns(&mut app, &[id, test_id], &keys, &secrets, &Walkers::customers("owner@example.org", &owner_key, &other_key)).await;
    }

    async fn a_csv_without_a_header_row_is_read_when_its_owner_says_so(db: Database) {
        let mut app = TestApp::new(db).await;
        let key = app.customer_key("owner@example.org").await;
        // An export with no header: its first row is data ("0,What is 0 plus one?,0"), read as a header
        // it would name column "0" twice.
        let rows: String = (0..150).map(|i| format!("{},What is {i} plus one?,{}\n", i % 5, i % 5)).collect();
        let refused = app.upload(&key, "headless", rows.clone().into_bytes()).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
        let message = refused.json()["error"]["message"].as_str().unwrap().to_string();
        assert!(message.contains("the first row looks like data") && message.contains("has_header=false"), "{message}");

        let request = axum::http::Request::post("/api/v1/datasets?name=headless&has_header=false")
            .header("authorization", format!("Bearer {key}"))
            .body(axum::body::Body::from(rows))
            .unwrap();
        let uploaded = app.send(request).await;
        assert_eq!(uploaded.status, StatusCode::CREATED, "{}", uploaded.body);
        let dataset = uploaded.json();
        assert_eq!(dataset["columns"], json!(["column_1", "column_2", "column_3"]));
        assert_eq!(dataset["preview"][0]["column_2"], "What is 0 plus one?", "the first row is a row");
        let id = dataset["id"].as_str().unwrap();
        let mapping = json!({"instruction": "column_2", "output": "column_3"});
        let started = app.api("POST", &format!("/api/v1/datasets/{id}/validation"), Some(&key), Some(json!({"task_type": "instruct", "mapping": mapping}))).await;
        assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.body);
        app.run_jobs().await;
        let done = app.api("GET", &format!("/api/v1/datasets/{id}"), Some(&key), None).await.json();
        assert_eq!((done["state"].as_str(), done["report"]["usable_rows"].as_u64()), (Some("ready"), Some(150)), "{done}");

        let jsonl = axum::http::Request::post("/api/v1/datasets?name=lines&has_header=false")
            .header("authorization", format!("Bearer {key}"))
            .body(axum::body::Body::from(instruct_file(10)))
            .unwrap();
        let wrong = app.send(jsonl).await;
        assert_eq!((wrong.status, wrong.json()["error"]["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("has_header")), "{}", wrong.body);
    }

    async fn multipart_parquet_and_image_uploads_are_read(db: Database) {
        let mut app = TestApp::new(db).await;
        let key = app.customer_key("owner@example.org").await;
        // A multipart form, as `curl -F name=… -F file=@…` sends it.
        let boundary = "crucible-boundary";
        let mut body = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nfrom a form\r\n");
        body.push_str(&format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"faq.jsonl\"\r\nContent-Type: application/octet-stream\r\n\r\n"));
        let mut bytes = body.into_bytes();
        bytes.extend(instruct_file(150));
        bytes.extend(format!("\r\n--{boundary}--\r\n").into_bytes());
        let request = axum::http::Request::post("/api/v1/datasets")
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", format!("multipart/form-data; boundary={boundary}"))
            .body(axum::body::Body::from(bytes))
            .unwrap();
        let uploaded = app.send(request).await;
        assert_eq!(uploaded.status, StatusCode::CREATED, "{}", uploaded.body);
        let uploaded = uploaded.json();
        assert_eq!(uploaded["name"], "from a form");
        assert_eq!(uploaded["format"], "jsonl");
        assert_eq!(uploaded["size_bytes"], instruct_file(150).len());

        let parquet = testkit::files::parquet_text(&["prompt", "response"], &(0..120).map(|i| vec![format!("Parquet question {i}?"), format!("Parquet answer {i}.")]).collect::<Vec<_>>());
        let uploaded = app.upload(&key, "columnar", parquet).await;
        assert_eq!(uploaded.status, StatusCode::CREATED, "{}", uploaded.body);
        let dataset = uploaded.json();
        assert_eq!(dataset["format"], "parquet");
        assert_eq!(dataset["columns"], json!(["prompt", "response"]));
        assert_eq!(dataset["preview"][0]["prompt"], "Parquet question 0?");
        let id = dataset["id"].as_str().unwrap();
        app.api("POST", &format!("/api/v1/datasets/{id}/validation"), Some(&key), Some(json!({"task_type": "instruct"}))).await;
        app.run_jobs().await;
        let done = app.api("GET", &format!("/api/v1/datasets/{id}"), Some(&key), None).await.json();
        assert_eq!(done["state"], "ready", "{done}");
        assert_eq!(done["report"]["usable_rows"], 120);

        let archive = testkit::files::image_zip(30, &["cat-7.txt"]);
        let uploaded = app.upload(&key, "cats", archive).await;
        assert_eq!(uploaded.status, StatusCode::CREATED, "{}", uploaded.body);
        let dataset = uploaded.json();
        assert_eq!(dataset["format"], "zip");
        assert_eq!(dataset["preview"][0]["caption"], "a photo of cat number 0");
        let id = dataset["id"].as_str().unwrap();
        let path = format!("/api/v1/datasets/{id}/validation");
        let wrong = app.api("POST", &path, Some(&key), Some(json!({"task_type": "instruct"}))).await;
        assert!(wrong.json()["error"]["message"].as_str().unwrap().contains("image task type"), "{}", wrong.body);
        app.api("POST", &path, Some(&key), Some(json!({"task_type": "image"}))).await;
        app.run_jobs().await;
        let done = app.api("GET", &format!("/api/v1/datasets/{id}"), Some(&key), None).await.json();
        assert_eq!(done["state"], "ready", "{done}");
        assert_eq!(done["report"]["usable_rows"], 29);
        assert_eq!(done["report"]["test_rows"], 2);
        assert_eq!(done["report"]["rejected"]["unpaired"]["count"], 1);
        let stored = app.stored_files();
        for split in ["train.zip", "test.zip", "train.jsonl", "test.jsonl"] {
            assert!(stored.iter().any(|f| f.starts_with(&format!("datasets/{id}/splits/")) && f.ends_with(&format!("/{split}"))), "{split} in {stored:?}");
        }

        let slip = testkit::files::zip_of(&[("../../etc/cron.d/x.png", b"x".to_vec()), ("x.txt", b"caption".to_vec())]);
        let refused = app.upload(&key, "slip", slip).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(refused.json()["error"]["message"].as_str().unwrap().contains("outside the archive"), "{}", refused.body);
    }
}
