//! Tasks through the API: the plan shown before confirming, creation within the catalogue's bounds,
//! the background step that prepares the data, the event log and cancelling. SQLite and PostgreSQL.

mod common;

use axum::http::StatusCode;
use common::{TestApp, event_states as states, validated_dataset};
use serde_json::json;

testkit::on_both_databases! {
    async fn a_task_is_planned_created_prepared_and_cancelled_with_events(db: Database) {
        let mut app = TestApp::new(db).await;
        let key = app.customer_key("owner@example.org").await;
        let dataset = validated_dataset(&mut app, &key).await;
        let request = json!({"dataset_id": dataset["id"], "model_id": "Qwen/Qwen2.5-0.5B-Instruct", "hours_to_complete": 2});

        let mut dry = request.clone();
        dry["dry_run"] = json!(true);
        let plan = app.api("POST", "/api/v1/tasks", Some(&key), Some(dry)).await;
        assert_eq!(plan.status, StatusCode::OK, "{}", plan.body);
        let plan = plan.json();
        assert_eq!((plan["train_rows"].as_u64(), plan["test_rows"].as_u64()), (Some(270), Some(30)));
        assert_eq!((plan["pool_min"].as_u64(), plan["pool_max"].as_u64()), (Some(8), Some(15)));
        assert_eq!(app.api("GET", "/api/v1/tasks", Some(&key), None).await.json()["tasks"], json!([]), "a plan creates nothing");

        let created = app.api("POST", "/api/v1/tasks", Some(&key), Some(request)).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        let id = created.json()["id"].as_str().unwrap().to_string();
        assert_eq!(created.json()["state"], "pending");
        assert_eq!(created.json()["task_type"], "instruct");

        app.run_jobs().await;
        let task = app.api("GET", &format!("/api/v1/tasks/{id}"), Some(&key), None).await.json();
        // No miner is registered: the offers close at once and the task waits to be offered again.
        assert_eq!(task["state"], "delayed");
        let events = app.api("GET", &format!("/api/v1/tasks/{id}/events"), Some(&key), None).await.json();
        assert_eq!(states(&events), ["pending", "preparing_data", "looking_for_nodes", "delayed"]);
        assert!(events["events"][2]["reason"].as_str().unwrap().contains("8 to 15 miners"));

        // Another customer sees nothing of it.
        let other = app.customer_key("other@example.org").await;
        assert_eq!(app.api("GET", &format!("/api/v1/tasks/{id}"), Some(&other), None).await.status, StatusCode::NOT_FOUND);
        assert_eq!(app.api("POST", &format!("/api/v1/tasks/{id}/cancel"), Some(&other), None).await.status, StatusCode::NOT_FOUND);

        let cancelled = app.api("POST", &format!("/api/v1/tasks/{id}/cancel"), Some(&key), None).await;
        assert_eq!(cancelled.json()["state"], "cancelled", "{}", cancelled.body);
        let again = app.api("POST", &format!("/api/v1/tasks/{id}/cancel"), Some(&key), None).await;
        assert_eq!(again.status, StatusCode::CONFLICT);
        let events = app.api("GET", &format!("/api/v1/tasks/{id}/events"), Some(&key), None).await.json();
        assert_eq!(states(&events).last().map(String::as_str), Some("cancelled"));
        assert_eq!(events["events"][4]["reason"], "cancelled by the customer");
    }

    async fn a_task_outside_the_catalogue_or_its_bounds_is_refused_by_field(db: Database) {
        let mut app = TestApp::new(db).await;
        let key = app.customer_key("owner@example.org").await;
        let dataset = validated_dataset(&mut app, &key).await;
        let id = dataset["id"].clone();
        let cases = [
            (json!({"dataset_id": id, "model_id": "Qwen/Qwen2.5-0.5B-Instruct", "hours_to_complete": 13}), "hours_to_complete", "1 to 12 hours"),
            (json!({"dataset_id": id, "model_id": "no/such-model", "hours_to_complete": 2}), "model_id", "GET /api/v1/models"),
            (json!({"dataset_id": id, "model_id": "black-forest-labs/FLUX.1-dev", "hours_to_complete": 2}), "model_id", "not offered for instruct"),
            (json!({"dataset_id": "nope", "model_id": "Qwen/Qwen2.5-0.5B-Instruct", "hours_to_complete": 2}), "dataset_id", "no dataset of yours"),
        ];
        for (body, field, text) in cases {
            let refused = app.api("POST", "/api/v1/tasks", Some(&key), Some(body.clone())).await;
            assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", refused.body);
            assert_eq!(refused.json()["error"]["field"], field, "{body}");
            assert!(refused.json()["error"]["message"].as_str().unwrap().contains(text), "{}", refused.body);
        }
        let uploaded = app.upload(&key, "raw", common::instruct_file(200)).await.json();
        let not_ready = app.api("POST", "/api/v1/tasks", Some(&key), Some(json!({"dataset_id": uploaded["id"], "model_id": "Qwen/Qwen2.5-0.5B-Instruct", "hours_to_complete": 2}))).await;
        assert!(not_ready.json()["error"]["message"].as_str().unwrap().contains("uploaded"), "{}", not_ready.body);
    }

    async fn the_wizard_shows_the_plan_then_creates_a_task_whose_page_follows_it(db: Database) {
        let mut app = TestApp::new(db).await;
        let key = app.customer_key("owner@example.org").await;
        let dataset = validated_dataset(&mut app, &key).await;
        let id = dataset["id"].as_str().unwrap();

        let first = app.get(&format!("/tasks/new?dataset={id}")).await;
        assert!(first.body.contains("Task type: instruct"), "{}", first.body);
        assert!(first.body.contains("Qwen/Qwen2.5-0.5B-Instruct") && !first.body.contains("FLUX.1-dev"), "only models for the dataset's type are offered");
        assert!(!first.body.contains("data-test=\"task-plan\""), "no summary before every step is chosen");

        let too_long = app.get(&format!("/tasks/new?dataset={id}&model=Qwen%2FQwen2.5-0.5B-Instruct&hours=13")).await;
        assert!(too_long.body.contains("1 to 12 hours"), "{}", too_long.body);

        let review = format!("/tasks/new?dataset={id}&model=Qwen%2FQwen2.5-0.5B-Instruct&hours=3");
        let summary = app.get(&review).await.body;
        for says in ["on 270 rows of instruct data", "30 rows are held out", "8 to 15 miners", "3-hour window"] {
            assert!(summary.contains(says), "the summary should say {says:?}: {summary}");
        }
        assert_eq!(app.api("GET", "/api/v1/tasks", Some(&key), None).await.json()["tasks"], json!([]), "reviewing creates nothing");

        let created = app.submit(&review, "/tasks", &[("dataset_id", id), ("model_id", "Qwen/Qwen2.5-0.5B-Instruct"), ("hours_to_complete", "3")]).await;
        assert_eq!(created.status, StatusCode::SEE_OTHER);
        let page = created.location().to_string();
        assert!(page.starts_with("/tasks/"), "{page}");
        let shown = app.get(&page).await.body;
        assert!(shown.contains("Task created") && shown.contains("created by the customer"), "{shown}");
        assert_eq!(state_on(&shown), "pending");

        app.run_jobs().await;
        let shown = app.get(&page).await.body;
        assert_eq!(state_on(&shown), "delayed");
        assert!(shown.contains("offering the task to 8 to 15 miners"), "{shown}");
        assert!(app.get("/tasks").await.body.contains("delayed"), "the list shows the task's state");

        app.submit(&page, &format!("{page}/cancel"), &[]).await;
        let shown = app.get(&page).await.body;
        assert_eq!(state_on(&shown), "cancelled");
        assert!(shown.contains("cancelled by the customer"), "{shown}");
        assert!(!shown.contains("data-test=\"cancel-task\""), "an ended task has no cancel button");
    }
}

/// The state a task page shows.
fn state_on(page: &str) -> String {
    let marker = "data-test=\"task-state\">";
    let at = page.find(marker).expect("a task state") + marker.len();
    page[at..].split('<').next().unwrap().to_string()
}
