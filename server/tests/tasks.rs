//! Tasks through the API and the browser: the plan shown before confirming, creation within the
//! catalogue's bounds, the background step that prepares the data, the event log and cancelling; and
//! the scores of a task on the public leaderboard and in the audit export. SQLite and PostgreSQL.

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

        let created = app.api("POST", "/api/v1/tasks", Some(&key), Some(request.clone())).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        let id = created.json()["id"].as_str().unwrap().to_string();
        assert_eq!(created.json()["state"], "pending");
        assert_eq!(created.json()["task_type"], "instruct");

        // Two tasks wait for a worker to prepare their data: the first is next, the second after it.
        let second = app.api("POST", "/api/v1/tasks", Some(&key), Some(request)).await.json();
        let second = second["id"].as_str().unwrap();
        let position = |task: serde_json::Value| task["queue_position"].clone();
        assert_eq!(position(app.api("GET", &format!("/api/v1/tasks/{id}"), Some(&key), None).await.json()), json!(1));
        assert_eq!(position(app.api("GET", &format!("/api/v1/tasks/{second}"), Some(&key), None).await.json()), json!(2));

        app.run_jobs().await;
        let task = app.api("GET", &format!("/api/v1/tasks/{id}"), Some(&key), None).await.json();
        assert_eq!(position(task.clone()), json!(null), "a task waiting for miners waits for no worker");
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
        // The event stream of an ended task sends its state once and ends.
        let stream = app.api("GET", &format!("/api/v1/tasks/{id}/stream"), Some(&key), None).await;
        assert_eq!(stream.status, StatusCode::OK);
        assert_eq!(stream.headers["content-type"], "text/event-stream");
        assert_eq!(stream.body.matches("event: task").count(), 1, "{}", stream.body);
        assert!(stream.body.contains("\"state\":\"cancelled\""), "{}", stream.body);
        assert_eq!(app.api("GET", &format!("/api/v1/tasks/{id}/stream"), Some(&other), None).await.status, StatusCode::NOT_FOUND);
        assert_eq!(events["events"][4]["reason"], "cancelled by the customer");
        // Each stream queries the database twice a second: an account holds at most 8 open.
        let path = format!("/api/v1/tasks/{id}/stream");
        let mut held = Vec::new();
        for _ in 0..8 {
            let open = app.open(&path, &key).await;
            assert_eq!(open.status(), StatusCode::OK);
            held.push(open);
        }
        let ninth = app.api("GET", &path, Some(&key), None).await;
        assert_eq!(ninth.status, StatusCode::TOO_MANY_REQUESTS, "{}", ninth.body);
        assert!(ninth.json()["error"]["message"].as_str().unwrap().contains("close one first"));
        held.pop();
        assert_eq!(app.api("GET", &path, Some(&key), None).await.status, StatusCode::OK, "a closed stream gives its place back");
    }

    async fn an_account_over_its_api_or_task_limit_is_told_when_to_try_again(db: Database) {
        use server::http::rate_limits::{Allowances, PerMinute};
        let mut app = TestApp::new(db).await;
        let key = app.customer_key("busy@example.org").await;
        let dataset = validated_dataset(&mut app, &key).await;
        app.limit(Allowances { sign_in_per_ip: PerMinute(100), sign_up_per_ip: PerMinute(100), api_key_per_account: PerMinute(6), tasks_per_account: PerMinute(2) });
        let request = json!({"dataset_id": dataset["id"], "model_id": "Qwen/Qwen2.5-0.5B-Instruct", "hours_to_complete": 2});
        for _ in 0..2 {
            assert_eq!(app.api("POST", "/api/v1/tasks", Some(&key), Some(request.clone())).await.status, StatusCode::CREATED);
        }
        let third = app.api("POST", "/api/v1/tasks", Some(&key), Some(request)).await;
        assert_eq!(third.status, StatusCode::TOO_MANY_REQUESTS, "{}", third.body);
        assert!(third.json()["error"]["message"].as_str().unwrap().contains("new tasks for this account"), "{}", third.body);
        // Six API requests a minute: three are spent above, three more pass, the seventh waits.
        for _ in 0..3 {
            assert_eq!(app.api("GET", "/api/v1/account", Some(&key), None).await.status, StatusCode::OK);
        }
        let over = app.api("GET", "/api/v1/account", Some(&key), None).await;
        assert_eq!(over.status, StatusCode::TOO_MANY_REQUESTS, "{}", over.body);
        let wait: u64 = over.headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=10).contains(&wait), "a refill every ten seconds: {wait}");
        // Another account is not held back by this one.
        let other = app.customer_key("calm@example.org").await;
        assert_eq!(app.api("GET", "/api/v1/account", Some(&other), None).await.status, StatusCode::OK);
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

    async fn the_catalogue_says_which_models_this_deployment_can_score_and_refuses_the_others(db: Database) {
        let mut app = TestApp::new(db).await;
        let key = app.customer_key("owner@example.org").await;
        let dataset = validated_dataset(&mut app, &key).await;
        let judged = |catalogue: &serde_json::Value, id: &str| {
            let model = catalogue["models"].as_array().unwrap().iter().find(|m| m["id"] == id).cloned().unwrap();
            (model["evaluable"].as_bool().unwrap(), model["not_evaluable_because"].as_str().unwrap_or("").to_string())
        };
        // No evaluator: nothing is scored here, and the catalogue says so (tasks still train and wait).
        let catalogue = app.api("GET", "/api/v1/models", Some(&key), None).await.json();
        let (evaluable, why) = judged(&catalogue, "Qwen/Qwen2.5-0.5B-Instruct");
        assert!(!evaluable && why.contains("no evaluator"), "{why}");

        // An evaluator that reads the reference family and Qwen2, with the files of two models only: one
        // of each family it reads, and a Gemma 2 model whose family it does not read.
        let models = tempfile::tempdir().unwrap();
        let place = |id: &str, model_type: &str, weights: bool| {
            let dir = models.path().join(id);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("config.json"), json!({"model_type": model_type}).to_string()).unwrap();
            if weights {
                std::fs::write(dir.join("model.safetensors"), b"").unwrap();
            }
        };
        place("Qwen/Qwen2.5-0.5B-Instruct", "qwen2", true);
        place("google/gemma-2-2b-it", "gemma2", true);
        place("Qwen/Qwen2.5-1.5B-Instruct", "qwen2", false);
        let mut evaluator = common::fixture_evaluator(models.path(), &[], &[]);
        evaluator.families = Some(vec!["gpt2".into(), "qwen2".into()]);
        app.configure(|platform| platform.evaluator = Some(evaluator));
        let catalogue = app.api("GET", "/api/v1/models", Some(&key), None).await.json();
        assert_eq!(judged(&catalogue, "Qwen/Qwen2.5-0.5B-Instruct"), (true, String::new()));
        let (evaluable, gemma) = judged(&catalogue, "google/gemma-2-2b-it");
        assert!(!evaluable && gemma.contains("does not read the gemma2 family"), "{gemma}");
        let (evaluable, llama) = judged(&catalogue, "meta-llama/Llama-3.2-1B-Instruct");
        assert!(!evaluable && llama.contains("does not have meta-llama/Llama-3.2-1B-Instruct's base model files"), "{llama}");
        let (evaluable, unweighted) = judged(&catalogue, "Qwen/Qwen2.5-1.5B-Instruct");
        assert!(!evaluable && unweighted.contains("has no weights"), "{unweighted}");
        assert!(!llama.contains(&models.path().display().to_string()), "no server path is shown");

        for (model, why) in [("google/gemma-2-2b-it", &gemma), ("meta-llama/Llama-3.2-1B-Instruct", &llama)] {
            let request = json!({"dataset_id": dataset["id"], "model_id": model, "hours_to_complete": 2});
            let refused = app.api("POST", "/api/v1/tasks", Some(&key), Some(request)).await;
            assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
            assert_eq!(refused.json()["error"]["field"], "model_id");
            assert_eq!(refused.json()["error"]["message"].as_str().unwrap(), why.as_str());
        }
        // A model not offered for the dataset's task type is told so first, scorable or not.
        let image = json!({"dataset_id": dataset["id"], "model_id": "black-forest-labs/FLUX.1-dev", "hours_to_complete": 2});
        let refused = app.api("POST", "/api/v1/tasks", Some(&key), Some(image)).await;
        assert!(refused.json()["error"]["message"].as_str().unwrap().contains("not offered for instruct"), "{}", refused.body);
        let request = json!({"dataset_id": dataset["id"], "model_id": "Qwen/Qwen2.5-0.5B-Instruct", "hours_to_complete": 2});
        let created = app.api("POST", "/api/v1/tasks", Some(&key), Some(request)).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
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
        assert!(shown.contains("Queue position 1: waiting for a worker to start preparing its data; it is next."), "{shown}");

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

    async fn scores_rank_miners_publicly_and_the_audit_export_recomputes_the_weights(db: Database) {
        let mut app = TestApp::new(db.clone()).await;
        let key = app.customer_key("owner@example.org").await;
        let dataset = validated_dataset(&mut app, &key).await;
        let request = json!({"dataset_id": dataset["id"], "model_id": "Qwen/Qwen2.5-0.5B-Instruct", "hours_to_complete": 2});
        let task = app.api("POST", "/api/v1/tasks", Some(&key), Some(request)).await.json()["id"].as_str().unwrap().to_string();
        let mut miners = Vec::new();
        for seed in [21, 22, 23] {
            let keys = common::miner_keys(seed);
            app.register_miner(&keys, &["instruct"], 8_000_000_000).await;
            let hotkey = domain::miners::Hotkey::from_public_key(keys.public.to_bytes());
            let miner = domain::miners::by_hotkey(&db, &hotkey).await.unwrap().unwrap();
            miners.push((miner.id, miner.hotkey));
        }
        let entry = |i: usize, sha: &str, at: i64, loss: f64| domain::scoring::Entry {
            miner: miners[i].0.clone(),
            content_digest: Some(sha.into()),
            received_at: at,
            evaluation: domain::scoring::Evaluation::Loss(loss),
        };
        // The duplicate (no rank) first: a missing rank must not spoil the statement for the ranked ones.
        let entries = [entry(2, "aaaa", 30, 0.8), entry(0, "aaaa", 10, 1.2), entry(1, "bbbb", 20, 0.9)];
        let now = domain::clock::now_ms();
        domain::scoring::record(&db, &task, &entries, now).await.unwrap();
        // Scored twice (a retried job): nothing changes.
        domain::scoring::record(&db, &task, &entries, now + 5).await.unwrap();

        app.forget_cookies();
        let board = app.api("GET", "/api/v1/leaderboard?window=1d&task_type=instruct", None, None).await;
        assert_eq!(board.status, StatusCode::OK, "the leaderboard is public: {}", board.body);
        let standings = board.json()["standings"].clone();
        let row = |i: usize| (standings[i]["hotkey"].as_str().unwrap().to_string(), standings[i]["points"].as_i64().unwrap());
        assert_eq!(row(0), (miners[1].1.clone(), 3), "the lowest loss wins");
        assert_eq!(row(1), (miners[0].1.clone(), 0));
        assert_eq!(row(2), (miners[2].1.clone(), -1), "a later copy of an artifact is a duplicate");
        assert_eq!((standings[0]["rank"].clone(), standings[0]["wins"].clone()), (json!(1), json!(1)));
        // Paginated: the second page of two rows holds the third miner, with its rank and the total.
        let second = app.api("GET", "/api/v1/leaderboard?window=1d&task_type=instruct&per_page=2&page=2", None, None).await.json();
        assert_eq!((second["total"].clone(), second["standings"].as_array().unwrap().len()), (json!(3), 1));
        assert_eq!((second["standings"][0]["hotkey"].as_str().unwrap(), second["standings"][0]["rank"].clone()), (miners[2].1.as_str(), json!(3)));
        // Sorted by hotkey, each miner keeps its rank by points.
        let by_hotkey = app.api("GET", "/api/v1/leaderboard?window=1d&sort=hotkey", None, None).await.json();
        let hotkeys: Vec<&str> = by_hotkey["standings"].as_array().unwrap().iter().map(|s| s["hotkey"].as_str().unwrap()).collect();
        let mut sorted = hotkeys.clone();
        sorted.sort();
        assert_eq!(hotkeys, sorted);
        let winner = by_hotkey["standings"].as_array().unwrap().iter().find(|s| s["hotkey"] == miners[1].1.as_str()).unwrap();
        assert_eq!(winner["rank"], 1);
        for (query, field) in [("sort=age", "sort"), ("page=two", "page"), ("per_page=0", "per_page")] {
            let bad = app.api("GET", &format!("/api/v1/leaderboard?{query}"), None, None).await;
            assert_eq!((bad.status, bad.json()["error"]["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!(field)), "{query}");
        }
        assert_eq!(app.api("GET", "/api/v1/leaderboard?task_type=dpo", None, None).await.json()["standings"], json!([]));
        let page = app.get("/leaderboards?window=1d&task_type=instruct").await.body;
        let first = page.find("data-test=\"standing\"").expect("the page lists the standings");
        let listed = |hotkey: &str| page[first..].find(hotkey).expect("every scored miner is listed");
        assert!(listed(&miners[1].1) < listed(&miners[0].1), "the winner is listed first");
        assert!(page.contains("Page 1 of 1 · 3 miners"), "{page}");
        let by_wins = app.get("/leaderboards?window=1d&task_type=instruct&sort=wins").await.body;
        assert!(by_wins.contains("aria-sort=\"descending\"") && by_wins.contains("sort=wins"), "the wins column is marked sorted");
        assert!(app.get("/leaderboards?task_type=dpo").await.body.contains("No miner has been scored"));
        let bad = app.api("GET", "/api/v1/leaderboard?window=2d", None, None).await;
        assert_eq!((bad.status, bad.json()["error"]["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("window")));

        let export = app.api("GET", "/api/v1/audit/export", None, None).await;
        assert_eq!(export.status, StatusCode::OK, "{}", export.body);
        let export = export.json();
        assert_eq!(export["scores"].as_array().unwrap().len(), 3);
        assert!(export["scores"].as_array().unwrap().iter().any(|s| s["reason"].as_str().unwrap().contains("duplicate")));
        assert_eq!(export["weights"][&miners[1].1], 1_000_000, "the only positive miner has all the weight");

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("export.json");
        std::fs::write(&file, export.to_string()).unwrap();
        let audit = |file: &std::path::Path| std::process::Command::new(env!("CARGO_BIN_EXE_crucible")).args(["audit", "--export"]).arg(file).output().unwrap();
        let matched = audit(&file);
        let printed = String::from_utf8_lossy(&matched.stdout);
        assert!(matched.status.success(), "{printed}{}", String::from_utf8_lossy(&matched.stderr));
        assert!(printed.contains(&format!("{} 1000000", miners[1].1)) && printed.contains("match"), "{printed}");

        let mut forged = export.clone();
        forged["weights"][&miners[0].1] = json!(500_000);
        std::fs::write(&file, forged.to_string()).unwrap();
        let refused = audit(&file);
        assert!(!refused.status.success(), "a forged weight is caught");
        assert!(String::from_utf8_lossy(&refused.stderr).contains(&miners[0].1));

        // A board is computed once and served for a few seconds; scores this server records show at once.
        let url = "/api/v1/leaderboard?window=1d&task_type=instruct";
        let as_of = board.json()["as_of"].clone();
        assert_eq!(app.api("GET", url, None, None).await.json()["as_of"], as_of, "the same board, from memory");
        let request = json!({"dataset_id": dataset["id"], "model_id": "Qwen/Qwen2.5-0.5B-Instruct", "hours_to_complete": 2});
        let second = app.api("POST", "/api/v1/tasks", Some(&key), Some(request)).await.json()["id"].as_str().unwrap().to_string();
        domain::scoring::record(&db, &second, &[entry(0, "cccc", 40, 0.5)], now + 10).await.unwrap();
        app.state.platform.leaderboards.invalidate();
        let fresh = app.api("GET", url, None, None).await.json();
        let standing = fresh["standings"].as_array().unwrap().iter().find(|s| s["hotkey"] == miners[0].1.as_str()).unwrap().clone();
        assert_eq!((standing["points"].clone(), standing["tasks"].clone(), standing["wins"].clone()), (json!(3), json!(2), json!(1)), "the fresh win counts: {fresh}");
    }

    async fn a_terminal_state_is_posted_signed_to_the_webhooks_and_retried_until_taken(db: Database) {
        let mut app = TestApp::new(db).await;
        // The receiver listens on loopback, which only --webhook-allow-private lets deliveries reach.
        app.configure(|platform| platform.webhook_reach.allow_private = true);
        let key = app.customer_key("owner@example.org").await;
        // A receiver that refuses the first delivery and takes the second.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks/crucible", listener.local_addr().unwrap());
        let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let log = received.clone();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            for status in ["500 Internal Server Error", "204 No Content"] {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                loop {
                    let n = socket.read(&mut buffer).await.unwrap();
                    request.extend_from_slice(&buffer[..n]);
                    let text = String::from_utf8_lossy(&request).to_string();
                    if let Some(head_end) = text.find("\r\n\r\n") {
                        let length: usize = text.lines().find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap())).unwrap_or(0);
                        if request.len() >= head_end + 4 + length || n == 0 {
                            break;
                        }
                    }
                }
                log.lock().unwrap().push(String::from_utf8_lossy(&request).to_string());
                socket.write_all(format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes()).await.unwrap();
            }
        });
        let secret = "a secret of some length";
        let refused = app.api("POST", "/api/v1/webhooks", Some(&key), Some(json!({"url": url, "secret": "short"}))).await;
        assert_eq!((refused.status, refused.json()["error"]["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("secret")));
        let created = app.api("POST", "/api/v1/webhooks", Some(&key), Some(json!({"url": url, "secret": secret}))).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        assert!(!created.body.contains(secret), "the secret is not shown back");
        let hook = created.json()["id"].as_str().unwrap().to_string();
        // Whoever reads the database (a backup, a dump) finds the secret sealed, not in clear.
        let stored: String = sqlx::query_scalar("SELECT secret FROM webhooks WHERE id = $1").bind(&hook).fetch_one(app.state.platform.db.pool()).await.unwrap();
        assert!(!stored.contains(secret) && stored.starts_with("sealed:"), "{stored}");
        // A secret an older version stored in clear is sealed at start-up, and still signs.
        let platform = app.state.platform.clone();
        sqlx::query("UPDATE webhooks SET secret = $1 WHERE id = $2").bind(secret).bind(&hook).execute(platform.db.pool()).await.unwrap();
        assert_eq!(domain::webhooks::seal_stored_secrets(&platform.deliveries()).await.unwrap(), 1);
        assert_eq!(domain::webhooks::seal_stored_secrets(&platform.deliveries()).await.unwrap(), 0, "once");
        let resealed: String = sqlx::query_scalar("SELECT secret FROM webhooks WHERE id = $1").bind(&hook).fetch_one(platform.db.pool()).await.unwrap();
        assert!(resealed.starts_with("sealed:") && resealed != stored);

        let (task, deliveries) = cancel_a_task_and_read_deliveries(&mut app, &key, &hook).await;
        assert_eq!(deliveries["deliveries"][0]["state"], "pending", "{deliveries}");
        assert_eq!(deliveries["deliveries"][0]["last_answer"], "HTTP 500");
        // The retry, made due now rather than after its backoff.
        sqlx::query("UPDATE jobs SET run_at = 0 WHERE kind = 'deliver_webhook' AND state = 'queued'").execute(app.state.platform.db.pool()).await.unwrap();
        app.run_jobs().await;
        let deliveries = app.api("GET", &format!("/api/v1/webhooks/{hook}/deliveries"), Some(&key), None).await.json();
        let delivery = &deliveries["deliveries"][0];
        assert_eq!((delivery["state"].as_str(), delivery["attempts"].as_i64(), delivery["event"].as_str()), (Some("delivered"), Some(2), Some("task.cancelled")), "{deliveries}");

        let requests = received.lock().unwrap().clone();
        assert_eq!(requests.len(), 2);
        let request = &requests[1];
        let body = &request[request.find("\r\n\r\n").unwrap() + 4..];
        let sent: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!((sent["task_id"].as_str(), sent["state"].as_str()), (Some(task.as_str()), Some("cancelled")));
        let header = request.lines().find_map(|l| l.to_ascii_lowercase().strip_prefix("x-crucible-signature:").map(|v| v.trim().to_string())).expect("a signature header");
        assert_eq!(header, domain::webhooks::signature(secret, body.as_bytes()), "signed with the secret over the body");
        // Standard Webhooks: the delivery's id and time are signed with the body, so a captured delivery
        // replayed later is told apart by its receiver.
        let named = |name: &str| request.lines().find_map(|l| l.to_ascii_lowercase().starts_with(&format!("{name}:")).then(|| l[name.len() + 1..].trim().to_string())).unwrap_or_else(|| panic!("no {name} header"));
        let (id, timestamp) = (named("webhook-id"), named("webhook-timestamp"));
        assert_eq!(id, delivery["id"].as_str().unwrap());
        let sent_at: i64 = timestamp.parse().unwrap();
        assert!((domain::clock::now_ms() / 1000 - sent_at).abs() < 60, "a current timestamp: {sent_at}");
        assert_eq!(named("webhook-signature"), domain::webhooks::standard_signature(secret.as_bytes(), &id, sent_at, body.as_bytes()));

        let other = app.customer_key("other@example.org").await;
        assert_eq!(app.api("GET", &format!("/api/v1/webhooks/{hook}/deliveries"), Some(&other), None).await.status, StatusCode::NOT_FOUND);
    }

    async fn a_webhook_cannot_reach_the_platforms_own_network(db: Database) {
        let mut app = TestApp::new(db).await;
        let key = app.customer_key("attacker@example.org").await;
        // An internal service the attacker would like to reach (or learn exists) through deliveries.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let secret = "a secret of some length";
        for (url, kind) in [
            (format!("http://127.0.0.1:{port}/hook"), "loopback"),
            ("http://10.0.0.1/hook".to_string(), "private"),
            ("http://169.254.169.254/latest/meta-data/".to_string(), "link-local"),
            ("http://100.64.0.1/".to_string(), "carrier-grade NAT"),
            (format!("http://[::ffff:127.0.0.1]:{port}/"), "loopback"),
            ("http://[::1]:2375/containers/json".to_string(), "loopback"),
            ("http://[fd00::1]/".to_string(), "private"),
            ("http://0.0.0.0:2375/".to_string(), "unspecified"),
        ] {
            let refused = app.api("POST", "/api/v1/webhooks", Some(&key), Some(json!({"url": url, "secret": secret}))).await;
            assert_eq!((refused.status, refused.json()["error"]["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("url")), "{url}: {}", refused.body);
            let message = refused.json()["error"]["message"].as_str().unwrap().to_string();
            assert!(message.contains(kind) && message.contains("public internet"), "{url}: {message}");
        }
        // A name is checked when delivering, against every address it resolves to: localhost is loopback.
        let created = app.api("POST", "/api/v1/webhooks", Some(&key), Some(json!({"url": format!("http://localhost:{port}/hook"), "secret": secret}))).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        let hook = created.json()["id"].as_str().unwrap().to_string();
        let (_, deliveries) = cancel_a_task_and_read_deliveries(&mut app, &key, &hook).await;
        let answer = deliveries["deliveries"][0]["last_answer"].as_str().unwrap_or_default().to_string();
        assert!(answer.contains("localhost resolves to") && answer.contains("loopback"), "{deliveries}");
        let knocked = tokio::time::timeout(std::time::Duration::from_millis(300), listener.accept()).await;
        assert!(knocked.is_err(), "the delivery must not connect to the internal service");
    }
}

/// Creates a task on a fresh dataset and cancels it, runs the background jobs (the webhooks' first
/// deliveries), and returns the task's id and webhook `hook`'s deliveries.
async fn cancel_a_task_and_read_deliveries(
    app: &mut TestApp,
    key: &str,
    hook: &str,
) -> (String, serde_json::Value) {
    let dataset = validated_dataset(app, key).await;
    let request = json!({"dataset_id": dataset["id"], "model_id": "Qwen/Qwen2.5-0.5B-Instruct", "hours_to_complete": 2});
    let task = app
        .api("POST", "/api/v1/tasks", Some(key), Some(request))
        .await
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.api(
        "POST",
        &format!("/api/v1/tasks/{task}/cancel"),
        Some(key),
        None,
    )
    .await;
    app.run_jobs().await;
    let deliveries = app
        .api(
            "GET",
            &format!("/api/v1/webhooks/{hook}/deliveries"),
            Some(key),
            None,
        )
        .await
        .json();
    (task, deliveries)
}

/// The state a task page shows.
fn state_on(page: &str) -> String {
    let marker = "data-test=\"task-state\">";
    let at = page.find(marker).expect("a task state") + marker.len();
    page[at..].split('<').next().unwrap().to_string()
}
