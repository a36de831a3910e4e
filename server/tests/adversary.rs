//! The referee under attack: each test plays a miner or a customer who tries to win, or to see the
//! secret test split, without training honestly, and checks what the platform answers and that nothing
//! leaked or was lost. SQLite and PostgreSQL. (The boss round's margin below zero is a unit test in
//! `domain::tournaments::boss`; champion mode's points in the tournament test.)

mod common;

use std::path::PathBuf;
use std::time::Duration;

use axum::http::StatusCode;
use common::{
    TestApp, Walkers, artifact, artifact_stamped, assert_no_route_returns, fixture_evaluator,
    instructions_in, miner_id, miner_keys, sha256,
};
use domain::tasks::PoolSize;
use serde_json::{Value, json};

const QWEN: &str = "Qwen/Qwen2.5-0.5B-Instruct";

/// A program of the workspace, built beside this test (`cargo test --workspace` builds lm's binaries).
fn built(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().join(name)
}

/// `n` GRPO prompts.
fn grpo_file(n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| {
            json!({"prompt": format!("Secret prompt number {i}: write something")}).to_string()
                + "\n"
        })
        .collect::<String>()
        .into_bytes()
}

/// The customer's uploaded `file`, validated as `validation` says; its id.
async fn ready_dataset(app: &mut TestApp, key: &str, file: Vec<u8>, validation: Value) -> String {
    let uploaded = app.upload(key, "data", file).await;
    assert_eq!(uploaded.status, StatusCode::CREATED, "{}", uploaded.body);
    let id = uploaded.json()["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/datasets/{id}/validation");
    let started = app.api("POST", &path, Some(key), Some(validation)).await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.body);
    app.run_jobs().await;
    let dataset = app
        .api("GET", &format!("/api/v1/datasets/{id}"), Some(key), None)
        .await
        .json();
    assert_eq!(dataset["state"], "ready", "{dataset}");
    id
}

/// Creates the customer's task (`request` with the dataset filled in) and has every one of `pool`
/// accept its offer, which fills the pool: the task is training. Its id.
async fn task_in_window(
    app: &mut TestApp,
    key: &str,
    dataset: &str,
    mut request: Value,
    pool: &[&schnorrkel::Keypair],
) -> String {
    app.configure(|platform| {
        platform.scheduling.text_pool = PoolSize {
            min: 1,
            max: pool.len() as u64,
        };
        platform.scheduling.offer_ttl_ms = 60_000;
    });
    request["dataset_id"] = json!(dataset);
    let created = app
        .api("POST", "/api/v1/tasks", Some(key), Some(request))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.json()["id"].as_str().unwrap().to_string();
    app.run_jobs().await;
    for keys in pool {
        let offers = app
            .signed("GET", "/api/v1/miner/offers?wait=0", keys, Vec::new())
            .await
            .json();
        let offer = offers["offers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["task_id"] == id.as_str())
            .cloned();
        let offer = offer.unwrap_or_else(|| panic!("no offer of {id}: {offers}"));
        assert_eq!(
            app.decide_offer(keys, &offer, "accept").await,
            StatusCode::OK
        );
    }
    let task = app
        .api("GET", &format!("/api/v1/tasks/{id}"), Some(key), None)
        .await
        .json();
    assert_eq!(task["state"], "training", "{task}");
    id
}

/// The training rows the miner `keys` downloads through its link for task `id`.
async fn training_rows(app: &mut TestApp, id: &str, keys: &schnorrkel::Keypair) -> String {
    let data = app
        .signed(
            "GET",
            &format!("/api/v1/miner/tasks/{id}/training-data"),
            keys,
            Vec::new(),
        )
        .await
        .json();
    let url = data["files"][0]["url"].as_str().unwrap().to_string();
    app.get(&url[url.find("/objects/").unwrap()..]).await.body
}

async fn state_of(app: &mut TestApp, key: &str, id: &str) -> Value {
    app.api("GET", &format!("/api/v1/tasks/{id}"), Some(key), None)
        .await
        .json()
}

testkit::on_both_databases! {
    async fn a_customer_cannot_change_or_delete_the_splits_of_a_task_in_use(db: Database) {
        let mut app = TestApp::new(db).await;
        let key = app.customer_key("owner@example.org").await;
        let miners = app.register_miners(1..=1, &["instruct"]).await;
        let dataset = ready_dataset(&mut app, &key, common::instruct_file(300), json!({"task_type": "instruct", "seed": 11})).await;
        let first = common::splits_of(&app, &dataset).await;
        let secrets = instructions_in(&app, &first.test()).await;
        let id = task_in_window(&mut app, &key, &dataset, json!({"model_id": QWEN, "hours_to_complete": 2}), &[&miners[0]]).await;
        let before = training_rows(&mut app, &id, &miners[0]).await;

        // The customer (colluding with a miner, say) tries a new seed while the task trains: refused,
        // naming the task, and the split stays as it was.
        let path = format!("/api/v1/datasets/{dataset}/validation");
        let again = app.api("POST", &path, Some(&key), Some(json!({"task_type": "instruct", "seed": 12}))).await;
        assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
        assert!(again.json()["error"]["message"].as_str().unwrap().contains(&format!("task {id} (training)")), "{}", again.body);
        app.run_jobs().await;
        assert_eq!(training_rows(&mut app, &id, &miners[0]).await, before, "the miner downloads the same training rows");
        assert_eq!(instructions_in(&app, &first.test()).await, secrets);

        // A held-out test file cannot be validated for a task of its own.
        let own = app.upload(&key, "own-test", common::instruct_file(120)).await.json()["id"].as_str().unwrap().to_string();
        let other = app.upload(&key, "other", common::instruct_file(300)).await.json()["id"].as_str().unwrap().to_string();
        let with_own = app.api("POST", &format!("/api/v1/datasets/{other}/validation"), Some(&key), Some(json!({"task_type": "instruct", "test_dataset_id": own}))).await;
        assert_eq!(with_own.status, StatusCode::ACCEPTED, "{}", with_own.body);
        app.run_jobs().await;
        let held = app.api("POST", &format!("/api/v1/datasets/{own}/validation"), Some(&key), Some(json!({"task_type": "instruct"}))).await;
        assert_eq!(held.status, StatusCode::CONFLICT, "{}", held.body);
        assert!(held.json()["error"]["message"].as_str().unwrap().contains("own test file"), "{}", held.body);

        // Once the task has ended the dataset may be validated again — and a refused validation
        // deletes only its own splits: the ended task's stay, for an admin to evaluate it again.
        app.api("POST", &format!("/api/v1/tasks/{id}/cancel"), Some(&key), None).await;
        app.configure(|platform| platform.dataset_limits.min_usable_rows = 10_000);
        let refused = app.api("POST", &path, Some(&key), Some(json!({"task_type": "instruct", "seed": 12}))).await;
        assert_eq!(refused.status, StatusCode::ACCEPTED, "{}", refused.body);
        app.run_jobs().await;
        let shown = app.api("GET", &format!("/api/v1/datasets/{dataset}"), Some(&key), None).await.json();
        assert_eq!(shown["state"], "refused", "{shown}");
        assert_eq!(instructions_in(&app, &first.test()).await, secrets, "the task's test split is still stored");
        assert_eq!(instructions_in(&app, &first.train()).await.len(), 270);

        // A new seed gives a new split under a new prefix; the old task still names its own.
        app.configure(|platform| platform.dataset_limits.min_usable_rows = 100);
        app.api("POST", &path, Some(&key), Some(json!({"task_type": "instruct", "seed": 12}))).await;
        app.run_jobs().await;
        let second = common::splits_of(&app, &dataset).await;
        assert_ne!(second, first);
        assert_ne!(instructions_in(&app, &second.test()).await, secrets, "another seed, another split");
        let task = domain::tasks::get_any(&app.state.platform.db, &id).await.unwrap().unwrap();
        assert_eq!(task.splits, first);
    }

    async fn a_submission_cannot_bring_its_own_tokenizer_or_architecture(db: Database) {
        let mut app = TestApp::new(db).await;
        let work = tempfile::tempdir().unwrap();
        let models = work.path().join("base-models");
        let made = std::process::Command::new(built("crucible-base-models"))
            .arg("--dir").arg(&models).args(["--size", "tiny", "--family", "reference", "--steps", "20"])
            .output().unwrap();
        assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
        let base = models.join("crucible/reference-tiny");
        app.configure(|platform| {
            platform.evaluator = Some(domain::evaluation::Evaluator {
                runner: std::sync::Arc::new(runner::ProcessRunner::default()),
                command: vec![built("crucible-eval").display().to_string()],
                in_container: false,
                limits: runner::Limits { time: Duration::from_secs(120), ..Default::default() },
                base_models: models.clone(),
                families: None,
            });
            // Room for a model of the reference family.
            platform.scheduling.max_submission_bytes = 16 << 20;
        });
        let key = app.customer_key("owner@example.org").await;
        let miners = app.register_miners(1..=3, &["instruct"]).await;
        let dataset = ready_dataset(&mut app, &key, common::instruct_file(300), json!({"task_type": "instruct", "seed": 3})).await;
        let pool: Vec<&schnorrkel::Keypair> = miners.iter().collect();
        let id = task_in_window(&mut app, &key, &dataset, json!({"model_id": "crucible/reference-tiny", "hours_to_complete": 1}), &pool).await;

        let file = |name: &str| std::fs::read_to_string(base.join(name)).unwrap();
        let weights = std::fs::read(base.join("model.safetensors")).unwrap();
        let tar = |files: &[(&str, &[u8])]| {
            let mut tar = tar::Builder::new(Vec::new());
            for (name, bytes) in files {
                let mut header = tar::Header::new_gnu();
                header.set_size(bytes.len() as u64);
                header.set_mode(0o644);
                header.set_cksum();
                tar.append_data(&mut header, name, *bytes).unwrap();
            }
            tar.into_inner().unwrap()
        };
        // The honest miner submits the base model itself (untrained, but scored by the base's ruler).
        let honest = tar(&[("config.json", file("config.json").as_bytes()), ("tokenizer.json", file("tokenizer.json").as_bytes()), ("model.safetensors", &weights)]);
        // The attacker's tokenizer turns every text into one unknown token: against its own ruler an
        // untrained model would look nearly perfect.
        let one_token = json!({
            "version": "1.0", "truncation": null, "padding": null,
            "added_tokens": [{"id": 1, "content": "<|endoftext|>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}],
            "normalizer": null, "pre_tokenizer": null, "post_processor": null, "decoder": null,
            "model": {"type": "WordLevel", "vocab": {"<unk>": 0, "<|endoftext|>": 1}, "unk_token": "<unk>"}
        }).to_string();
        let own_tokenizer = tar(&[("config.json", file("config.json").as_bytes()), ("tokenizer.json", one_token.as_bytes()), ("model.safetensors", &weights)]);
        // The other shrinks the vocabulary in its config to fit such a tokenizer.
        let mut config: Value = serde_json::from_str(&file("config.json")).unwrap();
        config["vocab_size"] = json!(2);
        let config = config.to_string();
        let own_vocabulary = tar(&[("config.json", config.as_bytes()), ("model.safetensors", &weights)]);
        for (keys, bytes) in [(&miners[0], &honest), (&miners[1], &own_tokenizer), (&miners[2], &own_vocabulary)] {
            let receipt = app.submit_artifact(&id, keys, bytes, &sha256(bytes)).await;
            assert_eq!(receipt.status, StatusCode::OK, "{}", receipt.body);
        }
        app.close_window(&id).await;
        let task = state_of(&mut app, &key, &id).await;
        assert_eq!(task["state"], "success", "{:?}", app.event_reasons(&key, &id).await);
        let scores = app.scores_of(&id).await;
        let mut ids = Vec::new();
        for keys in &miners {
            ids.push(miner_id(&app, keys).await);
        }
        let score = |i: usize| scores.iter().find(|(m, _, _)| *m == ids[i]).cloned().unwrap();
        assert_eq!(score(0).1, 3, "{scores:?}");
        let (_, points, reason) = score(1);
        assert_eq!(points, -1);
        assert!(reason.contains("tokenizer.json differs from the base model's"), "{reason}");
        let (_, points, reason) = score(2);
        assert_eq!(points, -1);
        assert!(reason.contains("config.json differs from the base model's in vocab_size"), "{reason}");
        let attempts: Vec<i64> = sqlx::query_scalar("SELECT attempts FROM evaluations WHERE task_id = $1")
            .bind(&id).fetch_all(app.state.platform.db.pool()).await.unwrap();
        assert_eq!(attempts, [1, 1, 1], "a refusal is final at once");
        // The honest evaluation keeps each held-out row's own loss (for paired comparisons later); the
        // refused ones have none. Their token-weighted mean is the recorded loss.
        let (loss, examples): (f64, String) =
            sqlx::query_as("SELECT loss, examples FROM evaluations WHERE task_id = $1 AND state = 'done'")
                .bind(&id).fetch_one(app.state.platform.db.pool()).await.unwrap();
        let examples: Vec<Value> = serde_json::from_str(&examples).unwrap();
        assert!(examples.len() >= 10, "{} rows", examples.len());
        let tokens: f64 = examples.iter().map(|e| e["tokens"].as_f64().unwrap()).sum();
        let weighted: f64 = examples.iter().map(|e| e["loss"].as_f64().unwrap() * e["tokens"].as_f64().unwrap()).sum();
        assert!((weighted / tokens - loss).abs() < 1e-6, "{} against {loss}", weighted / tokens);
        let refused: Vec<Option<String>> = sqlx::query_scalar("SELECT examples FROM evaluations WHERE task_id = $1 AND state = 'failed'")
            .bind(&id).fetch_all(app.state.platform.db.pool()).await.unwrap();
        assert_eq!(refused, [None, None]);
        // The base model's own loss was measured once, on the same split by the same evaluator: the
        // honest miner, who submitted the base itself, improved on it by nothing.
        let listed = app.api("GET", &format!("/api/v1/tasks/{id}/submissions"), Some(&key), None).await.json();
        let base_loss = listed["base_loss"].as_f64().unwrap_or(f64::NAN);
        assert!((base_loss - loss).abs() < 1e-9, "{listed}");
        let improvement = listed["submissions"][0]["improvement"].as_f64().unwrap_or(f64::NAN);
        assert!(improvement.abs() < 1e-9, "{listed}");
        assert!(listed["submissions"][1]["improvement"].is_null(), "a refused submission has no loss to compare");
        let base_jobs: i64 = sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM jobs WHERE kind = 'score_base_model' AND subject_id = $1 AND state = 'done'")
            .bind(&id).fetch_one(app.state.platform.db.pool()).await.unwrap();
        assert_eq!(base_jobs, 1);
        // Each row's loss is tied to a row of the secret split: the customer's answers and the public
        // result page carry none of them.
        let task = app.api("GET", &format!("/api/v1/tasks/{id}"), Some(&key), None).await.body;
        app.forget_cookies();
        let public = app.get(&format!("/results/{id}")).await;
        assert_eq!(public.status, StatusCode::OK);
        let public = public.body;
        for body in [listed.to_string(), task, public] {
            assert!(!body.contains("examples"), "{body}");
            for example in &examples {
                let row_loss = example["loss"].to_string();
                assert!(!body.contains(&row_loss), "a row's loss {row_loss} is shown: {body}");
            }
        }
    }

    async fn grpo_is_scored_by_the_reward_functions_the_customer_declared(db: Database) {
        let mut app = TestApp::new(db).await;
        let models = tempfile::tempdir().unwrap();
        app.configure(|platform| platform.evaluator = Some(fixture_evaluator(models.path(), &[QWEN], &[])));
        let key = app.customer_key("owner@example.org").await;
        let dataset = ready_dataset(&mut app, &key, grpo_file(300), json!({"task_type": "grpo"})).await;

        // What the evaluator could not run is refused before any miner trains for it.
        for (rewards, says) in [
            (json!([{"name": "vibes", "weight": 1}]), "unknown"),
            (json!([{"name": "length", "weight": -1}]), "the weight must be a number ≥ 0"),
            (json!([{"name": "regex", "weight": 1, "pattern": "("}]), "the pattern"),
            (json!([{"name": "length", "weight": 0}]), "weight above 0"),
        ] {
            let refused = app.api("POST", "/api/v1/tasks", Some(&key), Some(json!({"dataset_id": dataset, "model_id": QWEN, "hours_to_complete": 1, "reward_functions": rewards}))).await;
            assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
            assert_eq!(refused.json()["error"]["field"], "reward_functions");
            assert!(refused.json()["error"]["message"].as_str().unwrap().contains(says), "{}", refused.body);
        }
        let instruct = ready_dataset(&mut app, &key, common::instruct_file(300), json!({"task_type": "instruct"})).await;
        let not_grpo = app.api("POST", "/api/v1/tasks", Some(&key), Some(json!({"dataset_id": instruct, "model_id": QWEN, "hours_to_complete": 1, "reward_functions": [{"name": "length", "weight": 1}]}))).await;
        assert_eq!(not_grpo.json()["error"]["field"], "reward_functions", "{}", not_grpo.body);

        // The same two models on two tasks: one rewards length, the other valid JSON.
        let long = artifact(&[("loss.txt", "0"), ("rewards.json", r#"{"length": 1.0, "json_valid": 0.0}"#)]);
        let json_model = artifact(&[("loss.txt", "0"), ("rewards.json", r#"{"length": 0.3, "json_valid": 1.0}"#)]);
        let mut winners = Vec::new();
        let mut miners: Vec<schnorrkel::Keypair> = Vec::new();
        let hotkey = |keys: &schnorrkel::Keypair| domain::miners::Hotkey::from_public_key(keys.public.to_bytes()).to_string();
        let mut expected = Vec::new();
        for (pair, rewards) in [json!([{"name": "length", "weight": 1.0}]), json!([{"name": "length", "weight": 0.1}, {"name": "json_valid", "weight": 1.0}])].into_iter().enumerate() {
            // A pair of miners a task: the pair before is suspended, so that this task's pool is this pair.
            for keys in &miners {
                let hotkey = domain::miners::Hotkey::from_public_key(keys.public.to_bytes());
                domain::miners::suspend(&app.state.platform.db, domain::admin_log::COMMAND_LINE, &hotkey, Some("stepping aside")).await.unwrap();
            }
            let seed = 1 + 2 * pair as u8;
            miners = app.register_miners(seed..=seed + 1, &["grpo"]).await;
            let (first, second) = (&miners[0], &miners[1]);
            let request = json!({"model_id": QWEN, "hours_to_complete": 1, "reward_functions": rewards});
            let id = task_in_window(&mut app, &key, &dataset, request, &[first, second]).await;
            let shown = state_of(&mut app, &key, &id).await;
            assert_eq!(shown["reward_functions"], rewards, "the task shows what it is scored by");
            // The first of the pair submits the long model, the second the JSON one.
            expected.push(hotkey(if pair == 0 { first } else { second }));
            for (keys, bytes) in [(first, &long), (second, &json_model)] {
                assert_eq!(app.submit_artifact(&id, keys, bytes, &sha256(bytes)).await.status, StatusCode::OK);
            }
            app.close_window(&id).await;
            assert_eq!(state_of(&mut app, &key, &id).await["state"], "success");
            let listed = app.api("GET", &format!("/api/v1/tasks/{id}/submissions"), Some(&key), None).await.json();
            winners.push(listed["submissions"][0]["miner"].as_str().unwrap().to_string());
        }
        assert_eq!(winners, expected, "length wins the first task, valid JSON the second");
    }

    async fn accepting_a_place_and_submitting_nothing_costs_a_point(db: Database) {
        let mut app = TestApp::new(db).await;
        let key = app.customer_key("owner@example.org").await;
        // Throwaway hotkeys take every place in the pool and read the customer's training rows.
        let squatters = app.register_miners(1..=3, &["instruct"]).await;
        let dataset = ready_dataset(&mut app, &key, common::instruct_file(300), json!({"task_type": "instruct"})).await;
        let pool: Vec<&schnorrkel::Keypair> = squatters.iter().collect();
        let id = task_in_window(&mut app, &key, &dataset, json!({"model_id": QWEN, "hours_to_complete": 1}), &pool).await;
        for keys in &squatters {
            let data = app.signed("GET", &format!("/api/v1/miner/tasks/{id}/training-data"), keys, Vec::new()).await;
            assert_eq!(data.status, StatusCode::OK);
        }
        app.close_window(&id).await;
        assert_eq!(state_of(&mut app, &key, &id).await["state"], "failure");
        let scores = app.scores_of(&id).await;
        assert_eq!(scores.len(), 3, "{scores:?}");
        for (_, points, reason) in &scores {
            assert_eq!(*points, -1);
            assert!(reason.contains("accepted the offer but submitted no model by the deadline"), "{reason}");
        }
        // With −1 this week they are no longer drawn for the next task.
        let next = app.api("POST", "/api/v1/tasks", Some(&key), Some(json!({"dataset_id": dataset, "model_id": QWEN, "hours_to_complete": 1}))).await.json();
        app.run_jobs().await;
        for keys in &squatters {
            let offers = app.signed("GET", "/api/v1/miner/offers?wait=0", keys, Vec::new()).await.json();
            assert!(offers["offers"].as_array().unwrap().iter().all(|o| o["task_id"] != next["id"]), "{offers}");
        }
    }

    async fn a_customers_own_hotkey_is_never_offered_the_customers_task(db: Database) {
        let mut app = TestApp::new(db).await;
        let key = app.customer_key("owner@example.org").await;
        // The customer links a hotkey of their own to their account, hoping to win their own task.
        let own = miner_keys(7);
        let challenge = common::challenge_on(&app.get("/miner/hotkeys").await.body);
        let signature = domain::miners::epistula::sign_text(&own, challenge.as_bytes());
        let hotkey = domain::miners::Hotkey::from_public_key(own.public.to_bytes()).to_string();
        app.submit("/miner/hotkeys", "/miner/hotkeys", &[("hotkey", &hotkey), ("challenge", &challenge), ("signature", &signature), ("task_types", "instruct"), ("max_billions", "8")]).await;
        let owner = domain::db::miners::owner_of(app.state.platform.db.pool(), &miner_id(&app, &own).await).await.unwrap();
        assert!(owner.is_some(), "the hotkey is linked to the customer");
        let strangers = app.register_miners(1..=2, &["instruct"]).await;
        let dataset = ready_dataset(&mut app, &key, common::instruct_file(300), json!({"task_type": "instruct"})).await;
        app.configure(|platform| platform.scheduling.text_pool = PoolSize { min: 1, max: 15 });
        let task = app.api("POST", "/api/v1/tasks", Some(&key), Some(json!({"dataset_id": dataset, "model_id": QWEN, "hours_to_complete": 1}))).await.json();
        app.run_jobs().await;
        let offers = app.signed("GET", "/api/v1/miner/offers?wait=0", &own, Vec::new()).await.json();
        assert_eq!(offers["offers"], json!([]), "the customer's own hotkey gets no offer");
        for keys in &strangers {
            let offers = app.signed("GET", "/api/v1/miner/offers?wait=0", keys, Vec::new()).await.json();
            assert_eq!(offers["offers"][0]["task_id"], task["id"], "everyone else eligible does");
        }
        // Another customer's task reaches that hotkey as any other.
        let other = app.customer_key("other@example.org").await;
        let theirs = ready_dataset(&mut app, &other, common::instruct_file(300), json!({"task_type": "instruct"})).await;
        let foreign = app.api("POST", "/api/v1/tasks", Some(&other), Some(json!({"dataset_id": theirs, "model_id": QWEN, "hours_to_complete": 1}))).await.json();
        app.run_jobs().await;
        let offers = app.signed("GET", "/api/v1/miner/offers?wait=0", &own, Vec::new()).await.json();
        assert_eq!(offers["offers"][0]["task_id"], foreign["id"], "{offers}");
    }

    async fn a_submission_still_uploading_when_the_window_closes_is_not_recorded(db: Database) {
        let mut app = TestApp::new(db).await;
        let key = app.customer_key("owner@example.org").await;
        let miners = app.register_miners(1..=2, &["instruct"]).await;
        let dataset = ready_dataset(&mut app, &key, common::instruct_file(300), json!({"task_type": "instruct"})).await;
        let id = task_in_window(&mut app, &key, &dataset, json!({"model_id": QWEN, "hours_to_complete": 1}), &[&miners[0], &miners[1]]).await;
        let on_time = artifact(&[("loss.txt", "0.9")]);
        assert_eq!(app.submit_artifact(&id, &miners[0], &on_time, &sha256(&on_time)).await.status, StatusCode::OK);

        // The attacker starts its upload inside the window (the server checks the window then) and
        // sends the last bytes only after the task has moved on to evaluation.
        let late = artifact(&[("loss.txt", "0.1")]);
        let (sender, receiver) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(1);
        let body = axum::body::Body::from_stream(tokio_stream_of(receiver));
        let request = common::submission_request(&id, &miners[1], body, &late, &sha256(&late));
        let upload = app.spawn(request);
        sender.send(Ok(bytes::Bytes::copy_from_slice(&late[..100]))).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        app.close_window(&id).await;
        assert_eq!(state_of(&mut app, &key, &id).await["state"], "preevaluation");
        sender.send(Ok(bytes::Bytes::copy_from_slice(&late[100..]))).await.unwrap();
        drop(sender);
        let answer = upload.await.unwrap();
        assert_eq!(answer.status, StatusCode::CONFLICT, "{}", answer.body);
        let submissions: Vec<String> = sqlx::query_scalar("SELECT miner_id FROM submissions WHERE task_id = $1")
            .bind(&id).fetch_all(app.state.platform.db.pool()).await.unwrap();
        assert_eq!(submissions, [miner_id(&app, &miners[0]).await], "only the submission made in time");
        let attacker = miner_id(&app, &miners[1]).await;
        let leftovers: Vec<_> = app.stored_files().into_iter().filter(|f| f.contains(&attacker)).collect();
        assert_eq!(leftovers, Vec::<String>::new(), "the late upload is not kept");
    }

    async fn a_task_cancelled_during_evaluation_records_no_points(db: Database) {
        let mut app = TestApp::new(db).await;
        let models = tempfile::tempdir().unwrap();
        let key = app.customer_key("owner@example.org").await;
        let miners = app.register_miners(1..=2, &["instruct"]).await;
        let dataset = ready_dataset(&mut app, &key, common::instruct_file(300), json!({"task_type": "instruct"})).await;
        let id = task_in_window(&mut app, &key, &dataset, json!({"model_id": QWEN, "hours_to_complete": 1}), &[&miners[0], &miners[1]]).await;
        for (keys, loss) in [(&miners[0], "0.5"), (&miners[1], "0.7")] {
            let bytes = artifact(&[("loss.txt", loss)]);
            assert_eq!(app.submit_artifact(&id, keys, &bytes, &sha256(&bytes)).await.status, StatusCode::OK);
        }
        let pool = app.state.platform.db.pool().clone();
        sqlx::query("UPDATE tasks SET deadline_at = 1 WHERE id = $1").bind(&id).execute(&pool).await.unwrap();
        sqlx::query("UPDATE jobs SET run_at = 0 WHERE subject_id = $1").bind(&id).execute(&pool).await.unwrap();
        app.run_jobs().await;
        assert_eq!(state_of(&mut app, &key, &id).await["state"], "preevaluation", "closed, no evaluator yet");
        // A slow evaluator: the customer cancels while it works.
        app.configure(|platform| platform.evaluator = Some(fixture_evaluator(models.path(), &[QWEN], &["--sleep", "2"])));
        let platform = app.state.platform.clone();
        let evaluating = tokio::spawn({
            let id = id.clone();
            async move {
                domain::evaluation::evaluate_task(&platform.referee().unwrap(), &id).await?;
                while domain::workers::run_next(&platform).await? {}
                Ok::<_, domain::Error>(())
            }
        });
        for _ in 0..50 {
            if state_of(&mut app, &key, &id).await["state"] == "evaluating" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let cancelled = app.api("POST", &format!("/api/v1/tasks/{id}/cancel"), Some(&key), None).await;
        assert_eq!(cancelled.json()["state"], "cancelled", "{}", cancelled.body);
        evaluating.await.unwrap().unwrap();
        assert_eq!(state_of(&mut app, &key, &id).await["state"], "cancelled");
        assert_eq!(app.scores_of(&id).await, Vec::new(), "no points for a cancelled task");
        let result = app.api("GET", &format!("/api/v1/tasks/{id}/result"), Some(&key), None).await;
        assert_eq!(result.status, StatusCode::CONFLICT);
    }

    async fn the_platforms_own_failures_never_cost_a_miner_a_point(db: Database) {
        let mut app = TestApp::new(db).await;
        let models = tempfile::tempdir().unwrap();
        app.configure(|platform| platform.evaluator = Some(fixture_evaluator(models.path(), &[QWEN], &["--crash"])));
        let key = app.customer_key("owner@example.org").await;
        let miners = app.register_miners(1..=2, &["instruct"]).await;
        let dataset = ready_dataset(&mut app, &key, common::instruct_file(300), json!({"task_type": "instruct"})).await;
        let id = task_in_window(&mut app, &key, &dataset, json!({"model_id": QWEN, "hours_to_complete": 1}), &[&miners[0], &miners[1]]).await;
        let good = artifact(&[("loss.txt", "0.5")]);
        let other = artifact(&[("loss.txt", "0.8")]);
        for (keys, bytes) in [(&miners[0], &good), (&miners[1], &other)] {
            assert_eq!(app.submit_artifact(&id, keys, bytes, &sha256(bytes)).await.status, StatusCode::OK);
        }
        // The evaluator crashes on every model: four attempts, then the task is stopped, no points.
        app.close_window(&id).await;
        let reasons = app.event_reasons(&key, &id).await;
        assert_eq!(state_of(&mut app, &key, &id).await["state"], "failure", "{reasons:?}");
        let last = reasons.last().unwrap();
        assert!(last.contains("the platform could not evaluate the submissions") && last.contains("no points were recorded"), "{last}");
        assert!(!last.contains("Traceback"), "the evaluator's own output stays out of the reason: {last}");
        assert_eq!(app.scores_of(&id).await, Vec::new());
        let attempts: i64 = sqlx::query_scalar("SELECT attempts FROM evaluations WHERE task_id = $1")
            .bind(&id).fetch_one(app.state.platform.db.pool()).await.unwrap();
        assert_eq!(attempts, domain::evaluation::MAX_ATTEMPTS);

        // Mended, an admin has it evaluated again; meanwhile the store lost the second artifact's
        // bytes (a storage fault): that too is the platform's, and stops the task without a penalty.
        let admin = domain::accounts::Email::parse("ops@example.org").unwrap();
        let password = domain::accounts::Password::new(common::PASSWORD).unwrap();
        let db = app.state.platform.db.clone();
        let ops = domain::accounts::sign_up(&db, &admin, &password, domain::accounts::Role::Admin).await.unwrap();
        app.configure(|platform| platform.evaluator = Some(fixture_evaluator(models.path(), &[QWEN], &[])));
        let second = domain::db::submissions::object_key(db.pool(), &id, &miner_id(&app, &miners[1]).await).await.unwrap().unwrap();
        let key_of = domain::storage::ObjectKey::new(second).unwrap();
        app.state.platform.store.put(&key_of, domain::storage::bytes_stream(b"truncated".to_vec())).await.unwrap();
        domain::evaluation::reevaluate(&app.state.platform.tally(), &ops, &id, "the evaluator is mended").await.unwrap();
        app.run_jobs().await;
        assert_eq!(state_of(&mut app, &key, &id).await["state"], "failure");
        let last = app.event_reasons(&key, &id).await.last().unwrap().clone();
        assert!(last.contains("SHA-256") && last.contains("no points were recorded"), "{last}");
        assert_eq!(app.scores_of(&id).await, Vec::new(), "the miner whose artifact the store lost loses nothing");

        // Restored, the task is scored as the models deserve.
        app.state.platform.store.put(&key_of, domain::storage::bytes_stream(other.clone())).await.unwrap();
        domain::evaluation::reevaluate(&app.state.platform.tally(), &ops, &id, "the store is restored").await.unwrap();
        app.run_jobs().await;
        assert_eq!(state_of(&mut app, &key, &id).await["state"], "success");
        let points: Vec<i64> = app.scores_of(&id).await.into_iter().map(|(_, p, _)| p).collect();
        let mut sorted = points.clone();
        sorted.sort();
        assert_eq!(sorted, [0, 3]);
        let download = app.api("GET", &format!("/api/v1/tasks/{id}/result"), Some(&key), None).await;
        assert_eq!(download.body.as_bytes(), good.as_slice(), "the winner's download is the artifact its evaluation scored");
    }

    async fn a_copy_repacked_with_other_tar_metadata_is_still_a_duplicate(db: Database) {
        let mut app = TestApp::new(db).await;
        let models = tempfile::tempdir().unwrap();
        app.configure(|platform| platform.evaluator = Some(fixture_evaluator(models.path(), &[QWEN], &[])));
        let key = app.customer_key("owner@example.org").await;
        let miners = app.register_miners(1..=3, &["instruct"]).await;
        let dataset = ready_dataset(&mut app, &key, common::instruct_file(300), json!({"task_type": "instruct"})).await;
        let pool: Vec<&schnorrkel::Keypair> = miners.iter().collect();
        let id = task_in_window(&mut app, &key, &dataset, json!({"model_id": QWEN, "hours_to_complete": 1}), &pool).await;
        let files = [("config.json", "{}"), ("loss.txt", "0.4")];
        let original = artifact_stamped(&files, 1_000);
        // The copier re-packs the same files an hour later as another user: another tar, another SHA-256.
        let copy = artifact_stamped(&files, 4_600);
        assert_ne!(sha256(&original), sha256(&copy));
        let own = artifact(&[("config.json", "{}"), ("loss.txt", "0.6")]);
        for (keys, bytes) in [(&miners[0], &original), (&miners[1], &copy), (&miners[2], &own)] {
            assert_eq!(app.submit_artifact(&id, keys, bytes, &sha256(bytes)).await.status, StatusCode::OK);
        }
        app.close_window(&id).await;
        let scores = app.scores_of(&id).await;
        let of = |miner: String| scores.iter().find(|(m, _, _)| *m == miner).cloned().unwrap();
        assert_eq!(of(miner_id(&app, &miners[0]).await).1, 3, "the earliest keeps its place: {scores:?}");
        let (_, points, reason) = of(miner_id(&app, &miners[1]).await);
        assert_eq!(points, -1);
        assert!(reason.contains("duplicate"), "{reason}");
        assert_eq!(of(miner_id(&app, &miners[2]).await).1, 0);
    }

    async fn no_route_shows_an_accepted_miner_the_test_split_mid_task(db: Database) {
        let mut app = TestApp::new(db).await;
        let models = tempfile::tempdir().unwrap();
        // A careless evaluator prints every held-out row into its log (it runs only when called).
        app.configure(|platform| platform.evaluator = Some(fixture_evaluator(models.path(), &[QWEN], &["--echo-test"])));
        let key = app.customer_key("owner@example.org").await;
        let other_key = app.customer_key("other@example.org").await;
        let miners = app.register_miners(1..=1, &["instruct"]).await;
        let dataset = ready_dataset(&mut app, &key, common::instruct_file(300), json!({"task_type": "instruct"})).await;
        let splits = common::splits_of(&app, &dataset).await;
        let secrets = instructions_in(&app, &splits.test()).await;
        let id = task_in_window(&mut app, &key, &dataset, json!({"model_id": QWEN, "hours_to_complete": 1}), &[&miners[0]]).await;
        let object_keys = [splits.test().as_str().to_string(), splits.train().as_str().to_string()];
        let walkers = Walkers::customers("owner@example.org", &key, &other_key).and_miner(&miners[0]);

        // In training: the accepted miner follows its training-data link, and submits.
        let rows = training_rows(&mut app, &id, &miners[0]).await;
        assert_eq!(rows.lines().count(), 270);
        assert!(secrets.iter().all(|s| !rows.contains(s.as_str())), "the training link holds no test row");
        let bytes = artifact(&[("loss.txt", "0.5")]);
        assert_eq!(app.submit_artifact(&id, &miners[0], &bytes, &sha256(&bytes)).await.status, StatusCode::OK);
        // A fine-tuning job on the same file (through OpenAI's API) has a task of its own.
        let job = app.api("POST", "/v1/fine_tuning/jobs", Some(&key), Some(json!({"model": QWEN, "training_file": dataset}))).await;
        assert_eq!(job.status, StatusCode::OK, "{}", job.body);
        let job = job.json()["id"].as_str().unwrap().to_string();
        app.run_jobs().await;
        // Every route, by every caller, while the task trains (the owner's walk cancels it on the way).
        assert_no_route_returns(&mut app, &[&dataset, &id, &job], &object_keys[..1], &secrets, &walkers).await;

        // Evaluated, the evaluator's log holding every test row: the walk again once it has ended…
        let pool = app.state.platform.db.pool().clone();
        sqlx::query("UPDATE tasks SET state = 'preevaluation' WHERE id = $1").bind(&id).execute(&pool).await.unwrap();
        domain::evaluation::evaluate_task(&app.state.platform.referee().unwrap(), &id).await.unwrap();
        app.run_jobs().await;
        assert_eq!(state_of(&mut app, &key, &id).await["state"], "success");
        let log: String = sqlx::query_scalar("SELECT log FROM evaluations WHERE task_id = $1")
            .bind(&id).fetch_one(&pool).await.unwrap();
        assert!(secrets.iter().any(|s| log.contains(s.as_str())), "the evaluator did log the split");
        assert_no_route_returns(&mut app, &[&dataset, &id], &object_keys[..1], &secrets, &walkers).await;
        // …and while it is evaluating, when a late submission is refused without a word of the split.
        sqlx::query("UPDATE tasks SET state = 'evaluating' WHERE id = $1").bind(&id).execute(&pool).await.unwrap();
        let late = app.submit_artifact(&id, &miners[0], &bytes, &sha256(&bytes)).await;
        assert_eq!(late.status, StatusCode::CONFLICT, "{}", late.body);
        assert!(secrets.iter().all(|s| !late.body.contains(s.as_str())), "{}", late.body);
        assert_no_route_returns(&mut app, &[&dataset, &id], &object_keys[..1], &secrets, &walkers).await;
    }
}

/// The chunks `receiver` gets, as a request body stream.
fn tokio_stream_of(
    receiver: tokio::sync::mpsc::Receiver<Result<bytes::Bytes, std::io::Error>>,
) -> impl futures::Stream<Item = Result<bytes::Bytes, std::io::Error>> {
    futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|item| (item, receiver))
    })
}
