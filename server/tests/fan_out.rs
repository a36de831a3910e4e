//! Fan-out through the miner API: the pool drawn from eligible miners, offers long-polled, accepted
//! and declined, the window starting when the pool is full, and a task with too few miners delayed,
//! offered again and failed, on short timings; after the deadline, the submissions evaluated through
//! the process runner and the task scored. SQLite and PostgreSQL.

mod common;

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::{TestApp, artifact, miner_keys, sha256, validated_dataset};
use serde_json::{Value, json};

async fn create_task(app: &mut TestApp, key: &str) -> String {
    let dataset = validated_dataset(app, key).await;
    let request = json!({"dataset_id": dataset["id"], "model_id": "Qwen/Qwen2.5-0.5B-Instruct", "hours_to_complete": 2});
    let created = app
        .api("POST", "/api/v1/tasks", Some(key), Some(request))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    created.json()["id"].as_str().unwrap().to_string()
}

async fn offers_of(app: &mut TestApp, keys: &schnorrkel::Keypair) -> Vec<Value> {
    let response = app
        .signed("GET", "/api/v1/miner/offers?wait=0", keys, Vec::new())
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    response.json()["offers"].as_array().unwrap().clone()
}

async fn states(app: &mut TestApp, key: &str, id: &str) -> Vec<String> {
    let events = app
        .api(
            "GET",
            &format!("/api/v1/tasks/{id}/events"),
            Some(key),
            None,
        )
        .await
        .json();
    common::event_states(&events)
}

testkit::on_both_databases! {
    async fn offers_go_to_eligible_miners_and_a_full_pool_starts_the_window(db: Database) {
        let mut app = TestApp::new(db).await;
        let eligible = app.register_miners(1..=16, &["instruct", "chat"]).await;
        let only_chat = miner_keys(40);
        app.register_miner(&only_chat, &["chat"], 8_000_000_000).await;
        let too_small = miner_keys(41);
        app.register_miner(&too_small, &["instruct"], 100_000_000).await;
        let suspended = miner_keys(43);
        app.register_miner(&suspended, &["instruct"], 8_000_000_000).await;
        let hotkey = domain::miners::Hotkey::from_public_key(suspended.public.to_bytes());
        domain::miners::suspend(&app.state.platform.db, domain::admin_log::COMMAND_LINE, &hotkey, Some("submitted copies")).await.unwrap();
        let unregistered = miner_keys(42);
        // Time for fifteen miners to answer before the offers close.
        app.state.platform.scheduling.offer_ttl_ms = 60_000;
        let key = app.customer_key("owner@example.org").await;
        let id = create_task(&mut app, &key).await;
        app.run_jobs().await;

        let mut offered = Vec::new();
        for keys in &eligible {
            for offer in offers_of(&mut app, keys).await {
                assert_eq!(offer["task_id"], id.as_str());
                offered.push((keys, offer["id"].as_str().unwrap().to_string()));
            }
        }
        assert_eq!(offered.len(), 15, "the pool is at most 15 of the 16 eligible miners");
        assert!(offers_of(&mut app, &only_chat).await.is_empty(), "a miner that does not take instruct");
        assert!(offers_of(&mut app, &too_small).await.is_empty(), "a miner whose models are too small");
        assert!(offers_of(&mut app, &suspended).await.is_empty(), "a suspended miner");
        let stranger = app.signed("GET", "/api/v1/miner/offers", &unregistered, Vec::new()).await;
        assert_eq!(stranger.status, StatusCode::FORBIDDEN, "{}", stranger.body);

        // One miner cannot decide another's offer.
        let (first_keys, first_offer) = &offered[0];
        let stolen = app.signed("POST", &format!("/api/v1/miner/offers/{}/accept", offered[1].1), first_keys, Vec::new()).await;
        assert_eq!(stolen.status, StatusCode::NOT_FOUND);
        for (keys, offer) in &offered[..14] {
            let accepted = app.signed("POST", &format!("/api/v1/miner/offers/{offer}/accept"), keys, Vec::new()).await;
            assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
        }
        let again = app.signed("POST", &format!("/api/v1/miner/offers/{first_offer}/decline"), first_keys, Vec::new()).await;
        assert_eq!(again.status, StatusCode::CONFLICT, "a decided offer stays decided");
        let task = app.api("GET", &format!("/api/v1/tasks/{id}"), Some(&key), None).await.json();
        assert_eq!(task["state"], "looking_for_nodes", "14 of 15: the pool is not full yet");

        let (last_keys, last_offer) = &offered[14];
        let filled = app.signed("POST", &format!("/api/v1/miner/offers/{last_offer}/accept"), last_keys, Vec::new()).await;
        assert_eq!(filled.status, StatusCode::OK, "{}", filled.body);
        let task = app.api("GET", &format!("/api/v1/tasks/{id}"), Some(&key), None).await.json();
        assert_eq!(task["state"], "training");
        let window = task["deadline_at"].as_i64().unwrap() - task["window_starts_at"].as_i64().unwrap();
        assert_eq!(window, 2 * 3_600_000);
        assert_eq!(states(&mut app, &key, &id).await, ["pending", "preparing_data", "looking_for_nodes", "ready", "training"]);
    }

    async fn with_the_default_pool_two_miners_open_the_window_as_soon_as_both_answered(db: Database) {
        // Gradients' rule: the pool (8–15) is how many are offered the task; one acceptance is enough.
        let mut app = TestApp::new(db).await;
        let miners = app.register_miners(1..=2, &["instruct"]).await;
        app.state.platform.scheduling.offer_ttl_ms = 60_000;
        let key = app.customer_key("owner@example.org").await;
        let id = create_task(&mut app, &key).await;
        app.run_jobs().await;
        let task = app.api("GET", &format!("/api/v1/tasks/{id}"), Some(&key), None).await.json();
        assert_eq!((task["pool_min"].as_u64(), task["pool_max"].as_u64()), (Some(8), Some(15)), "the default pool");
        let started = Instant::now();
        let first = offers_of(&mut app, &miners[0]).await.pop().unwrap();
        assert_eq!(app.decide_offer(&miners[0], &first, "accept").await, StatusCode::OK);
        let task = app.api("GET", &format!("/api/v1/tasks/{id}"), Some(&key), None).await.json();
        assert_eq!(task["state"], "looking_for_nodes", "the other offered miner has not answered yet");
        let second = offers_of(&mut app, &miners[1]).await.pop().unwrap();
        assert_eq!(app.decide_offer(&miners[1], &second, "accept").await, StatusCode::OK);
        let task = app.api("GET", &format!("/api/v1/tasks/{id}"), Some(&key), None).await.json();
        assert_eq!(task["state"], "training", "every offered miner answered: the window opens");
        assert!(started.elapsed() < Duration::from_secs(10), "within seconds, not at the offers' expiry");
        let events = app.api("GET", &format!("/api/v1/tasks/{id}/events"), Some(&key), None).await.json();
        assert!(events["events"][3]["reason"].as_str().unwrap().contains("2 miners accepted"), "{events}");
    }

    async fn one_acceptance_opens_the_window_when_the_offers_expire(db: Database) {
        let mut app = TestApp::new(db).await;
        let miners = app.register_miners(1..=3, &["instruct"]).await;
        app.state.platform.scheduling.offer_ttl_ms = 1_500;
        let key = app.customer_key("owner@example.org").await;
        let id = create_task(&mut app, &key).await;
        app.run_jobs().await;
        // One accepts, one declines, one never answers.
        for (keys, decision) in [(&miners[0], "accept"), (&miners[1], "decline")] {
            let offer = offers_of(&mut app, keys).await.pop().unwrap();
            assert_eq!(app.decide_offer(keys, &offer, decision).await, StatusCode::OK);
        }
        assert_eq!(app.api("GET", &format!("/api/v1/tasks/{id}"), Some(&key), None).await.json()["state"], "looking_for_nodes");
        tokio::time::sleep(Duration::from_millis(1_600)).await;
        app.run_jobs().await;
        assert_eq!(states(&mut app, &key, &id).await, ["pending", "preparing_data", "looking_for_nodes", "ready", "training"]);
    }

    async fn too_few_miners_delay_the_task_then_fail_it(db: Database) {
        let mut app = TestApp::new(db).await;
        // A deployment that wants eight acceptances before a window opens.
        app.configure(|platform| platform.scheduling.min_accepted = 8);
        let miners = app.register_miners(1..=3, &["instruct"]).await;
        // Offers stay open 1.5 s: time for three miners to accept on a slow machine.
        app.state.platform.scheduling.offer_ttl_ms = 1_500;
        let key = app.customer_key("owner@example.org").await;
        let id = create_task(&mut app, &key).await;
        app.run_jobs().await;
        for keys in &miners {
            let offer = offers_of(&mut app, keys).await.pop().unwrap();
            assert_eq!(app.decide_offer(keys, &offer, "accept").await, StatusCode::OK);
        }
        // The offers close with 3 of the 8 needed: delayed, then offered again.
        tokio::time::sleep(Duration::from_millis(1_600)).await;
        app.run_jobs().await;
        let events = app.api("GET", &format!("/api/v1/tasks/{id}/events"), Some(&key), None).await.json();
        let delayed = events["events"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(delayed["to_state"], "delayed");
        assert!(delayed["reason"].as_str().unwrap().contains("only 3 of the 8 miners needed accepted"), "{delayed}");
        tokio::time::sleep(Duration::from_millis(300)).await;
        app.run_jobs().await;
        assert_eq!(app.api("GET", &format!("/api/v1/tasks/{id}"), Some(&key), None).await.json()["round"], 1);
        assert_eq!(offers_of(&mut app, &miners[0]).await.len(), 1, "a new round of offers");
        // Nobody accepts this time; after the last retry the task fails with the reason.
        tokio::time::sleep(Duration::from_millis(1_600)).await;
        app.run_jobs().await;
        assert_eq!(
            states(&mut app, &key, &id).await,
            ["pending", "preparing_data", "looking_for_nodes", "delayed", "looking_for_nodes", "failure_finding_nodes"]
        );
    }

    async fn a_long_poll_waits_for_offers(db: Database) {
        let mut app = TestApp::new(db).await;
        let keys = miner_keys(1);
        app.register_miner(&keys, &["instruct"], 8_000_000_000).await;
        let started = Instant::now();
        let response = app.signed("GET", "/api/v1/miner/offers?wait=1", &keys, Vec::new()).await;
        assert_eq!(response.json()["offers"], json!([]));
        assert!(started.elapsed() >= Duration::from_millis(950), "waited {:?}", started.elapsed());
    }
}

/// A task in its window with 15 miners who accepted (a full pool), and a 16th registered miner left out.
async fn task_in_window(
    app: &mut TestApp,
) -> (
    String,
    String,
    Vec<schnorrkel::Keypair>,
    schnorrkel::Keypair,
) {
    let pool = app.register_miners(1..=15, &["instruct"]).await;
    app.state.platform.scheduling.offer_ttl_ms = 60_000;
    let key = app.customer_key("owner@example.org").await;
    let id = create_task(app, &key).await;
    app.run_jobs().await;
    for keys in &pool {
        let offer = offers_of(app, keys).await.pop().unwrap();
        assert_eq!(
            app.decide_offer(keys, &offer, "accept").await,
            StatusCode::OK
        );
    }
    let outsider = miner_keys(99);
    app.register_miner(&outsider, &["instruct"], 8_000_000_000)
        .await;
    (key, id, pool, outsider)
}

/// The artifact of the miner's recorded submission to the task.
async fn stored_submission(app: &TestApp, task_id: &str, miner_id: &str) -> Vec<u8> {
    let key = domain::db::submissions::object_key(app.state.platform.db.pool(), task_id, miner_id)
        .await
        .unwrap()
        .expect("a recorded submission");
    let key = domain::storage::ObjectKey::new(key).unwrap();
    domain::storage::collect(app.state.platform.store.get(&key).await.unwrap())
        .await
        .unwrap()
}

testkit::on_both_databases! {
    async fn accepted_miners_get_the_training_data_and_submit_until_the_deadline(db: Database) {
        let mut app = TestApp::new(db).await;
        let (key, id, pool, outsider) = task_in_window(&mut app).await;
        let miner = &pool[0];

        let task = app.signed("GET", &format!("/api/v1/miner/tasks/{id}"), miner, Vec::new()).await;
        assert_eq!(task.status, StatusCode::OK, "{}", task.body);
        assert_eq!(task.json()["state"], "training");
        assert_eq!(app.signed("GET", &format!("/api/v1/miner/tasks/{id}"), &outsider, Vec::new()).await.status, StatusCode::NOT_FOUND);
        let outsider_data = app.signed("GET", &format!("/api/v1/miner/tasks/{id}/training-data"), &outsider, Vec::new()).await;
        assert_eq!(outsider_data.status, StatusCode::NOT_FOUND, "a miner not in the pool gets no data");

        let data = app.signed("GET", &format!("/api/v1/miner/tasks/{id}/training-data"), miner, Vec::new()).await;
        assert_eq!(data.status, StatusCode::OK, "{}", data.body);
        let url = data.json()["files"][0]["url"].as_str().unwrap().to_string();
        let path = &url[url.find("/objects/").unwrap()..];
        let rows = app.get(path).await;
        assert_eq!(rows.status, StatusCode::OK);
        assert_eq!(rows.body.lines().count(), 270, "the training split, and only it");

        let artifact = b"a model artifact".to_vec();
        let wrong = app.submit_artifact(&id, miner, &artifact, &sha256(b"something else")).await;
        assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", wrong.body);
        assert_eq!(wrong.json()["error"]["field"], "sha256");
        let receipt = app.submit_artifact(&id, miner, &artifact, &sha256(&artifact)).await;
        assert_eq!(receipt.status, StatusCode::OK, "{}", receipt.body);
        let receipt = receipt.json();
        assert_eq!(receipt["sha256"], sha256(&artifact));
        assert!(receipt["received_at"].as_i64().unwrap() <= receipt["deadline_at"].as_i64().unwrap());
        let better = b"a better model artifact".to_vec();
        let replaced = app.submit_artifact(&id, miner, &better, &sha256(&better)).await;
        assert_eq!(replaced.json()["sha256"], sha256(&better));
        let miner_id = domain::miners::by_hotkey(&app.state.platform.db, &domain::miners::Hotkey::from_public_key(miner.public.to_bytes())).await.unwrap().unwrap().id;
        let stored = stored_submission(&app, &id, &miner_id).await;
        assert_eq!(stored, better, "the later submission replaced the earlier one");
        // Over the test app's 64 KiB limit: refused, and the submission received stays.
        let huge = vec![7u8; 64 * 1024 + 1];
        let refused = app.submit_artifact(&id, miner, &huge, &sha256(&huge)).await;
        assert_eq!(refused.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", refused.body);
        assert!(refused.json()["error"]["message"].as_str().unwrap().contains("65536-byte limit"), "{}", refused.body);
        let stored = stored_submission(&app, &id, &miner_id).await;
        assert_eq!(stored, better, "a refused submission leaves the earlier one");
        let kept: Vec<_> = app.stored_files().into_iter().filter(|path| path.contains(&format!("/submissions/{miner_id}/"))).collect();
        assert_eq!(kept.len(), 1, "the replaced artifact and the refused uploads are gone, the recorded one stays: {kept:?}");
        assert_eq!(app.submit_artifact(&id, &outsider, &artifact, &sha256(&artifact)).await.status, StatusCode::NOT_FOUND);

        // Past the deadline: no data, no submission, and the one received stays.
        sqlx::query("UPDATE tasks SET deadline_at = 1 WHERE id = $1").bind(&id).execute(app.state.platform.db.pool()).await.unwrap();
        let late = app.submit_artifact(&id, &pool[1], &artifact, &sha256(&artifact)).await;
        assert_eq!(late.status, StatusCode::CONFLICT, "{}", late.body);
        assert!(late.json()["error"]["message"].as_str().unwrap().contains("deadline"), "{}", late.body);
        assert_eq!(app.signed("GET", &format!("/api/v1/miner/tasks/{id}/training-data"), miner, Vec::new()).await.status, StatusCode::CONFLICT);
        let stored = stored_submission(&app, &id, &miner_id).await;
        assert_eq!(stored, better);
        // The job due at the deadline finds it passed: the submission goes on to evaluation.
        sqlx::query("UPDATE jobs SET run_at = 0 WHERE subject_id = $1 AND state = 'queued'").bind(&id).execute(app.state.platform.db.pool()).await.unwrap();
        app.run_jobs().await;
        let events = app.api("GET", &format!("/api/v1/tasks/{id}/events"), Some(&key), None).await.json();
        let last = events["events"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["to_state"], "preevaluation");
        assert_eq!(last["reason"], "the deadline passed with 1 submissions");
    }
}

testkit::on_both_databases! {
    async fn two_workers_sending_one_round_at_once_send_it_once(db: Database) {
        let mut app = TestApp::new(db).await;
        let miners = app.register_miners(1..=20, &["instruct"]).await;
        let key = app.customer_key("owner@example.org").await;
        // Offers that outlive the twenty checks below, however slow the machine.
        app.state.platform.scheduling.offer_ttl_ms = 60_000;
        let id = create_task(&mut app, &key).await;
        // The validation job ran already; this runs the task's preparation, which queues its offers.
        assert!(domain::workers::run_next(&app.state.platform).await.unwrap());
        let dispatch = app.state.platform.dispatch();
        let (a, b) = tokio::join!(
            domain::tasks::fan_out::advance(&dispatch, &id),
            domain::tasks::fan_out::advance(&dispatch, &id)
        );
        a.unwrap();
        b.unwrap();
        let mut offered = 0;
        for keys in &miners {
            offered += offers_of(&mut app, keys).await.len();
        }
        assert_eq!(offered, 15, "one pool of 15, not two");
    }
}

testkit::on_both_databases! {
    async fn after_the_deadline_submissions_are_evaluated_and_the_task_is_scored(db: Database) {
        let mut app = TestApp::new(db).await;
        let (key, id, pool, outsider) = task_in_window(&mut app).await;
        let models = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(models.path().join("Qwen/Qwen2.5-0.5B-Instruct")).unwrap();
        app.state.platform.evaluator = Some(domain::evaluation::Evaluator {
            runner: std::sync::Arc::new(runner::ProcessRunner::default()),
            command: vec!["python3".into(), concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/loss_evaluator.py").into()],
            in_container: false,
            limits: runner::Limits { time: Duration::from_secs(60), ..Default::default() },
            base_models: models.path().to_path_buf(),
            families: None,
        });
        let good = artifact(&[("config.json", "{}"), ("loss.txt", "0.9"), ("mended-loss.txt", "0.2")]);
        let best = artifact(&[("config.json", "{}"), ("loss.txt", "0.5")]);
        let broken = artifact(&[("config.json", "{}")]);
        for (miner, bytes) in [(&pool[0], &good), (&pool[1], &best), (&pool[2], &broken)] {
            assert_eq!(app.submit_artifact(&id, miner, bytes, &sha256(bytes)).await.status, StatusCode::OK);
        }
        // A copy of the best artifact, received later.
        assert_eq!(app.submit_artifact(&id, &pool[3], &best, &sha256(&best)).await.status, StatusCode::OK);

        let early = app.api("GET", &format!("/api/v1/tasks/{id}/result"), Some(&key), None).await;
        assert_eq!(early.status, StatusCode::CONFLICT, "no winner while training: {}", early.body);

        // An anonymous visitor's leaderboard page, rendered now and kept for a second, has no one yet.
        assert!(app.get_anonymous("/leaderboards?window=7d").await.body.contains("data-test=\"leaderboard-empty\""));

        sqlx::query("UPDATE tasks SET deadline_at = 1 WHERE id = $1").bind(&id).execute(app.state.platform.db.pool()).await.unwrap();
        sqlx::query("UPDATE jobs SET run_at = 0 WHERE subject_id = $1 AND state = 'queued'").bind(&id).execute(app.state.platform.db.pool()).await.unwrap();
        app.run_jobs().await;

        let events = app.api("GET", &format!("/api/v1/tasks/{id}/events"), Some(&key), None).await.json();
        let states = common::event_states(&events);
        let errors: Vec<Option<String>> = sqlx::query_scalar("SELECT last_error FROM jobs WHERE subject_id = $1").bind(&id).fetch_all(app.state.platform.db.pool()).await.unwrap();
        assert_eq!(&states[states.len() - 3..], ["preevaluation", "evaluating", "success"], "{events} {errors:?}");
        // The operator reads what happened at /metrics: the task's end, one evaluation job per
        // submission, the offers taken, and the time this server spent evaluating.
        let metrics = app.get("/metrics").await.body;
        for line in [
            r#"crucible_tasks{state="success"} 1"#,
            r#"crucible_jobs{kind="evaluate_submission",state="done"} 4"#,
            r#"crucible_jobs{kind="score_task",state="done"} 1"#,
        ] {
            assert!(metrics.contains(line), "{line} in\n{metrics}");
        }
        for start in [r#"crucible_offers{outcome="accepted"} "#, r#"crucible_job_runs{kind="evaluate_submission",outcome="ok"} "#, r#"crucible_job_run_seconds{kind="evaluate_submission"} "#, "crucible_dataset_validated_bytes "] {
            assert!(metrics.lines().any(|l| l.starts_with(start) && !l.ends_with(" 0")), "{start} in\n{metrics}");
        }
        let last = events["events"].as_array().unwrap().last().unwrap()["reason"].as_str().unwrap().to_string();
        assert!(last.contains("the best held-out loss is 0.5000"), "{last}");

        let hotkey = |keys: &schnorrkel::Keypair| domain::miners::Hotkey::from_public_key(keys.public.to_bytes()).to_string();
        // The new scores show on that page at once: recording them dropped the page kept for visitors.
        let board = app.get_anonymous("/leaderboards?window=7d").await.body;
        assert!(board.contains(&hotkey(&pool[1])) && !board.contains("leaderboard-empty"), "{board}");
        let export = app.api("GET", "/api/v1/audit/export", None, None).await.json();
        let score = |keys: &schnorrkel::Keypair| export["scores"].as_array().unwrap().iter().find(|s| s["miner"] == hotkey(keys)).cloned().unwrap();
        assert_eq!(score(&pool[1])["points"], 3);
        assert_eq!(score(&pool[0])["points"], 0);
        assert_eq!(score(&pool[2])["points"], -1);
        assert!(score(&pool[2])["reason"].as_str().unwrap().contains("evaluation failed"), "{}", score(&pool[2]));
        assert_eq!(score(&pool[3])["points"], -1);
        assert!(score(&pool[3])["reason"].as_str().unwrap().contains("duplicate"));
        let attempts: Vec<i64> = sqlx::query_scalar("SELECT attempts FROM evaluations WHERE task_id = $1 ORDER BY attempts")
            .bind(&id).fetch_all(app.state.platform.db.pool()).await.unwrap();
        assert_eq!(attempts, [1, 1, 1, 1], "a refused artifact is the submission's own fault: no second attempt");
        // The eleven miners who accepted a place in the pool and submitted nothing lose a point each.
        let no_shows: Vec<_> = pool[4..].iter().map(score).collect();
        assert_eq!(no_shows.len(), 11);
        for no_show in &no_shows {
            assert_eq!(no_show["points"], -1, "{no_show}");
            assert!(no_show["reason"].as_str().unwrap().contains("submitted no model by the deadline"), "{no_show}");
        }

        // The customer sees the submissions ranked, and downloads the winner.
        let listed = app.api("GET", &format!("/api/v1/tasks/{id}/submissions"), Some(&key), None).await.json();
        let listed = listed["submissions"].as_array().unwrap().clone();
        assert_eq!(listed.len(), 4);
        assert_eq!((listed[0]["miner"].as_str().unwrap(), listed[0]["rank"].as_u64(), listed[0]["loss"].as_f64()), (hotkey(&pool[1]).as_str(), Some(1), Some(0.5)));
        assert_eq!((listed[1]["miner"].as_str().unwrap(), listed[1]["rank"].as_u64()), (hotkey(&pool[0]).as_str(), Some(2)));
        let download = app.api("GET", &format!("/api/v1/tasks/{id}/result"), Some(&key), None).await;
        assert_eq!(download.status, StatusCode::OK, "{}", download.body);
        assert_eq!(download.body.as_bytes(), best.as_slice(), "the winning artifact, byte for byte");
        assert_eq!(download.headers["x-artifact-sha256"].to_str().unwrap(), sha256(download.body.as_bytes()));
        let owner_page = app.get(&format!("/tasks/{id}")).await.body;
        assert!(owner_page.contains("data-test=\"download-winner\"") && owner_page.contains("0.5000"), "the task page ranks them and offers the download");
        // The winner's miner account, once it links the hotkey, sees the win with its reason.
        app.forget_cookies();
        app.sign_up("winner@example.org", "miner").await;
        let challenge = common::challenge_on(&app.get("/miner/hotkeys").await.body);
        let signature = domain::miners::epistula::sign_text(&pool[1], challenge.as_bytes());
        let winner = hotkey(&pool[1]);
        app.submit("/miner/hotkeys", "/miner/hotkeys", &[("hotkey", &winner), ("challenge", &challenge), ("signature", &signature), ("task_types", "instruct"), ("max_billions", "8")]).await;
        let dashboard = app.get("/miner/hotkeys").await.body;
        let score = dashboard.find("data-test=\"miner-score\"").expect("the dashboard lists the score");
        assert!(dashboard[score..].contains("+3") && dashboard[score..].contains("the lowest held-out loss, 0.5000"), "{dashboard}");
        let stranger = app.customer_key("stranger@example.org").await;
        assert_eq!(app.api("GET", &format!("/api/v1/tasks/{id}/result"), Some(&stranger), None).await.status, StatusCode::NOT_FOUND);
        assert_eq!(app.api("GET", &format!("/api/v1/tasks/{id}/submissions"), Some(&stranger), None).await.status, StatusCode::NOT_FOUND);

        // Everyone sees the results and the winner's profile: scores, never data, owners or models.
        app.forget_cookies();
        let results = app.get(&format!("/results/{id}")).await.body;
        assert!(results.contains("data-test=\"result-row\"") && results.contains(&winner) && results.contains("0.5000"), "{results}");
        assert!(!results.contains(&sha256(&best)) && !results.contains("owner@example.org"), "no artifact hash, no owner");
        let profile = app.get(&format!("/miners/{winner}")).await.body;
        let row = profile.find("data-test=\"profile-score\"").expect("the profile lists the score");
        assert!(profile[row..].contains("+3") && profile[row..].contains(&format!("/results/{id}")), "{profile}");

        // Run again (a retried job): nothing changes.
        domain::evaluation::evaluate_task(&app.state.platform.referee().unwrap(), &id).await.unwrap();
        app.run_jobs().await;
        let again = app.api("GET", &format!("/api/v1/tasks/{id}/events"), Some(&key), None).await.json();
        assert_eq!(again["events"].as_array().unwrap().len(), events["events"].as_array().unwrap().len());

        // The evaluator read the wrong file: once it is mended, an admin has the task evaluated again.
        let admin = domain::accounts::Email::parse("ops@example.org").unwrap();
        let password = domain::accounts::Password::new(common::PASSWORD).unwrap();
        domain::accounts::sign_up(&app.state.platform.db, &admin, &password, domain::accounts::Role::Admin).await.unwrap();
        app.sign_in("ops@example.org", common::PASSWORD).await;
        let reevaluate = format!("/admin/tasks/{id}/reevaluate");
        let refused = app.submit("/admin/tasks", &reevaluate, &[("reason", " ")]).await;
        let page = app.get("/admin/tasks").await.body;
        assert!(page.contains("Say why the task is evaluated again"), "a reason is required: {refused:?} {page}");
        let evaluator = app.state.platform.evaluator.as_mut().unwrap();
        evaluator.command.extend(["--loss-file".to_string(), "mended-loss.txt".to_string()]);
        app.submit("/admin/tasks", &reevaluate, &[("reason", "the evaluator read the wrong file")]).await;
        let waiting = app.api("GET", &format!("/api/v1/tasks/{id}"), Some(&key), None).await.json();
        assert_eq!((waiting["state"].as_str(), waiting["queue_position"].as_u64()), (Some("evaluating"), Some(1)), "{waiting}");
        let export = app.api("GET", "/api/v1/audit/export", None, None).await.json();
        assert!(export["scores"].as_array().unwrap().iter().all(|s| s["task_id"] != id.as_str()), "the old scores are withdrawn: {export}");
        app.run_jobs().await;

        let events = app.api("GET", &format!("/api/v1/tasks/{id}/events"), Some(&key), None).await.json();
        let states = common::event_states(&events);
        assert_eq!(&states[states.len() - 3..], ["success", "evaluating", "success"], "{events}");
        assert_eq!(events["events"].as_array().unwrap().iter().rev().nth(1).unwrap()["reason"], "evaluated again at an admin's request: the evaluator read the wrong file");
        let export = app.api("GET", "/api/v1/audit/export", None, None).await.json();
        let score = |keys: &schnorrkel::Keypair| export["scores"].as_array().unwrap().iter().find(|s| s["miner"] == hotkey(keys)).cloned().unwrap();
        assert_eq!((score(&pool[0])["points"].as_i64(), score(&pool[1])["points"].as_i64()), (Some(3), Some(0)), "the mended scores replace the old");
        let download = app.api("GET", &format!("/api/v1/tasks/{id}/result"), Some(&key), None).await;
        assert_eq!(download.body.as_bytes(), good.as_slice(), "the new winner's artifact");
        let log = app.get("/admin/queue").await.body;
        assert!(log.contains("reevaluate_task") && log.contains("the evaluator read the wrong file"), "{log}");

        // The next task's pool: the miner ahead this week (+3) and one never scored, never a miner
        // whose week adds up to nothing (0) or less (-1).
        let next = create_task(&mut app, &key).await;
        app.run_jobs().await;
        for (keys, offered) in [(&pool[0], true), (&outsider, true), (&pool[1], false), (&pool[2], false), (&pool[3], false)] {
            let offers = offers_of(&mut app, keys).await;
            assert_eq!(offers.iter().any(|offer| offer["task_id"] == next.as_str()), offered, "{} {offers:?}", hotkey(keys));
        }
    }
}
