//! A tournament on this machine's Docker engine: nine recipes — six reference recipes with different
//! settings (crucible-train built FROM scratch), one that crashes, one that overruns its time and one
//! that tries to reach the network — uploaded through the signed miner API, built, entered, run in
//! sandboxes on the same task, scored by the reference evaluator, and played down to a champion,
//! whose recipe is then published. SQLite (the tournament's statements are the same on PostgreSQL).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::{TestApp, miner_keys, validated_dataset};
use serde_json::{Value, json};

/// A program of the workspace, built beside this test (`cargo test --workspace` builds lm's binaries).
fn built(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().join(name)
}

fn run_ok(command: &mut Command) {
    let output = command
        .output()
        .unwrap_or_else(|err| panic!("{command:?}: {err}"));
    assert!(
        output.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn reference_recipe(dir: &Path, name: &str, flags: &[&str]) -> Vec<u8> {
    testkit::recipes::reference(dir, name, &built("crucible-train"), flags)
}

use testkit::recipes::probe as probe_recipe;

async fn admin_key(app: &mut TestApp, email: &str) -> String {
    let address = domain::accounts::Email::parse(email).unwrap();
    let password = domain::accounts::Password::new(common::PASSWORD).unwrap();
    let db = app.state.platform.db.clone();
    domain::accounts::sign_up(&db, &address, &password, domain::accounts::Role::Admin)
        .await
        .unwrap();
    app.forget_cookies();
    app.sign_in(email, common::PASSWORD).await;
    app.submit(
        "/account/api-keys",
        "/account/api-keys",
        &[("name", "tests")],
    )
    .await;
    let page = app.get("/account/api-keys").await;
    let marker = "data-test=\"new-key\"";
    let start = page.body.find(marker).expect("a new key") + marker.len();
    let start = start + page.body[start..].find('>').unwrap() + 1;
    page.body[start..].split('<').next().unwrap().to_string()
}

#[test]
fn nine_recipes_play_down_to_a_champion_whose_recipe_is_published() {
    testkit::run(async {
        let test_db = testkit::sqlite().await;
        let mut app = TestApp::new(test_db.db.clone()).await;
        let work = tempfile::tempdir().unwrap();
        let models = work.path().join("base-models");
        run_ok(
            Command::new(built("crucible-base-models"))
                .arg("--dir")
                .arg(&models)
                .args(["--size", "tiny", "--family", "reference", "--steps", "60"]),
        );
        app.configure(|platform| {
            platform.evaluator = Some(domain::evaluation::Evaluator {
                runner: std::sync::Arc::new(runner::ProcessRunner::default()),
                command: vec![built("crucible-eval").display().to_string()],
                in_container: false,
                limits: runner::Limits {
                    time: Duration::from_secs(120),
                    ..Default::default()
                },
                base_models: models.clone(),
                families: None,
            });
            platform.trainers = Some(domain::tournaments::Trainers {
                docker: runner::DockerRunner::connect(None).unwrap(),
                limits: runner::Limits {
                    memory_bytes: 2 << 30,
                    cpus: 1.0,
                    ..Default::default()
                },
                build_timeout: Duration::from_secs(300),
                max_recipe_bytes: 256 << 20,
                allowed_bases: Vec::new(),
            });
            // Each run has one of the platform's hours: six seconds here.
            platform.scheduling.hour_ms = 6_000;
            platform.tournament_schedule = domain::tournaments::Schedule {
                registration_ms: 3_000,
                min_entrants: 8,
                registration_retries: 1,
                gap_ms: 600_000,
            };
        });

        let recipes = [
            (
                "steady",
                reference_recipe(
                    work.path(),
                    "steady",
                    &["--learning-rate", "0.003", "--epochs", "2"],
                ),
            ),
            (
                "eager",
                reference_recipe(
                    work.path(),
                    "eager",
                    &["--learning-rate", "0.01", "--epochs", "3"],
                ),
            ),
            (
                "timid",
                reference_recipe(
                    work.path(),
                    "timid",
                    &["--learning-rate", "0.00001", "--epochs", "1"],
                ),
            ),
            (
                "lora",
                reference_recipe(
                    work.path(),
                    "lora",
                    &["--method", "lora", "--learning-rate", "0.01"],
                ),
            ),
            (
                "small-batch",
                reference_recipe(
                    work.path(),
                    "small-batch",
                    &["--batch-size", "2", "--learning-rate", "0.003"],
                ),
            ),
            (
                "seeded",
                reference_recipe(
                    work.path(),
                    "seeded",
                    &["--seed", "7", "--learning-rate", "0.003"],
                ),
            ),
            ("crashes", probe_recipe(work.path(), "crash")),
            ("overruns", probe_recipe(work.path(), "sleep")),
            ("phones-home", probe_recipe(work.path(), "net")),
        ];
        let mut miners = Vec::new();
        for (index, (name, context)) in recipes.iter().enumerate() {
            let keys = miner_keys(100 + index as u8);
            app.register_miner(&keys, &["instruct"], 8_000_000_000)
                .await;
            let uploaded = app
                .signed(
                    "PUT",
                    &format!("/api/v1/miner/recipes?name={name}"),
                    &keys,
                    context.clone(),
                )
                .await;
            assert_eq!(uploaded.status, StatusCode::ACCEPTED, "{}", uploaded.body);
            assert_eq!(uploaded.json()["state"], "uploaded");
            miners.push((keys, uploaded.json()["id"].as_str().unwrap().to_string()));
        }
        // A context without a Dockerfile is refused, naming what is missing.
        let no_dockerfile = app
            .signed(
                "PUT",
                "/api/v1/miner/recipes?name=empty",
                &miners[0].0,
                tar::Builder::new(Vec::new()).into_inner().unwrap(),
            )
            .await;
        assert_eq!(
            no_dockerfile.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            no_dockerfile.body
        );
        assert!(
            no_dockerfile.body.contains("Dockerfile"),
            "{}",
            no_dockerfile.body
        );
        let started = Instant::now();
        app.run_jobs().await;
        eprintln!(
            "nine recipes built in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        for (keys, id) in &miners {
            let listed = app
                .signed("GET", "/api/v1/miner/recipes", keys, Vec::new())
                .await
                .json();
            let recipe = &listed["recipes"][0];
            assert_eq!(
                (recipe["id"].as_str(), recipe["state"].as_str()),
                (Some(id.as_str()), Some("built")),
                "{recipe}"
            );
            assert!(
                recipe["image_digest"]
                    .as_str()
                    .unwrap()
                    .starts_with("sha256:"),
                "{recipe}"
            );
        }

        let key = admin_key(&mut app, "ops@example.org").await;
        let dataset = validated_dataset(&mut app, &key).await;
        let opened = app
            .api("POST", "/api/v1/tournaments", Some(&key), Some(json!({"dataset_id": dataset["id"], "model_id": "crucible/reference-tiny", "hours": 1})))
            .await;
        assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.body);
        let id = opened.json()["id"].as_str().unwrap().to_string();
        assert_eq!(opened.json()["state"], "pending");
        for (keys, recipe) in &miners {
            let body = json!({"recipe_id": recipe}).to_string().into_bytes();
            let entered = app
                .signed(
                    "POST",
                    &format!("/api/v1/miner/tournaments/{id}/entries"),
                    keys,
                    body.clone(),
                )
                .await;
            assert_eq!(entered.status, StatusCode::CREATED, "{}", entered.body);
        }
        let twice = json!({"recipe_id": miners[0].1}).to_string().into_bytes();
        let again = app
            .signed(
                "POST",
                &format!("/api/v1/miner/tournaments/{id}/entries"),
                &miners[0].0,
                twice,
            )
            .await;
        assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);

        tokio::time::sleep(Duration::from_millis(3_100)).await;
        let started = Instant::now();
        app.run_jobs().await;
        eprintln!(
            "the tournament played in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let bracket = app
            .api("GET", &format!("/api/v1/tournaments/{id}"), None, None)
            .await
            .json();
        eprintln!("{}", serde_json::to_string_pretty(&bracket).unwrap());
        assert_eq!(bracket["state"], "completed", "{}", bracket["reason"]);
        // A completed tournament has no move back to play, even asked of the database layer directly,
        // and a state column holding a word the machine does not know does not read as any state.
        use domain::states::TournamentState;
        let replayed = domain::db::tournaments::change_state(
            test_db.db.pool(),
            &id,
            TournamentState::Completed,
            TournamentState::Active,
            "played again",
            0,
        )
        .await
        .unwrap();
        assert!(!replayed, "a completed tournament was made active again");
        sqlx::query("UPDATE tournaments SET state = 'paused' WHERE id = $1")
            .bind(&id)
            .execute(test_db.db.pool())
            .await
            .unwrap();
        let unreadable = domain::db::tournaments::by_id(test_db.db.pool(), &id).await;
        let why = unreadable
            .expect_err("a tournament in an unknown state read")
            .to_string();
        assert!(
            why.contains("\"paused\" is not a state of TournamentState"),
            "{why}"
        );
        sqlx::query("UPDATE tournaments SET state = 'completed' WHERE id = $1")
            .bind(&id)
            .execute(test_db.db.pool())
            .await
            .unwrap();
        let matches = bracket["matches"].as_array().unwrap();
        let round = |r: i64| {
            matches
                .iter()
                .filter(|m| m["round"] == r)
                .collect::<Vec<_>>()
        };
        let first = round(1);
        assert_eq!(first.len(), 5, "nine entrants: four pairs and a bye");
        assert_eq!(first.iter().filter(|m| m["kind"] == "bye").count(), 1);
        assert_eq!(
            (round(2).len(), round(3).len(), round(4).len()),
            (3, 2, 1),
            "five, three, then two entrants"
        );

        let runs_of = |name: &str| -> Vec<&Value> {
            matches
                .iter()
                .flat_map(|m| m["entrants"].as_array().unwrap())
                .filter(|e| e["name"]["recipe"] == name)
                .flat_map(|e| e["runs"].as_array().unwrap())
                .collect()
        };
        let error_of = |name: &str| {
            runs_of(name)[0]["error"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        };
        assert!(
            error_of("crashes").contains("Signalled"),
            "{}",
            error_of("crashes")
        );
        assert!(
            error_of("overruns").contains("overran"),
            "{}",
            error_of("overruns")
        );
        assert!(
            error_of("phones-home").contains("Exited(2)"),
            "{}",
            error_of("phones-home")
        );
        for bad in ["crashes", "overruns", "phones-home"] {
            let out = bracket["standings"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["name"]["recipe"] == bad)
                .unwrap();
            assert_eq!(out["out_in_round"], 1, "{bad} went out in round 1: {out}");
            assert_eq!(out["points"], 0.0);
        }
        let winner = bracket["winner"]["recipe"].as_str().unwrap().to_string();
        assert!(
            !["crashes", "overruns", "phones-home"].contains(&winner.as_str()),
            "{winner}"
        );
        for run in runs_of(&winner) {
            assert!(run["loss"].as_f64().is_some_and(f64::is_finite), "{run}");
        }
        // Each entrant's points are its played matches' (round × 1 for text × 0.3^(rank − 1)); a bye
        // and a failed run earn none, so the champion need not have the most.
        for standing in bracket["standings"].as_array().unwrap() {
            let recipe = &standing["name"]["recipe_id"];
            let earned: f64 = matches
                .iter()
                .filter(|m| m["kind"] != "bye")
                .flat_map(|m| {
                    let round = m["round"].as_u64().unwrap() as u32;
                    m["entrants"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(move |e| (round, e))
                })
                .filter(|(_, e)| &e["name"]["recipe_id"] == recipe)
                .filter(|(_, e)| {
                    e["runs"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|r| r["loss"].is_number())
                })
                .map(|(round, e)| {
                    domain::tournaments::points::for_rank(
                        "text",
                        round,
                        e["rank"].as_u64().unwrap() as u32,
                    )
                })
                .sum();
            assert!(
                (standing["points"].as_f64().unwrap() - earned).abs() < 1e-9,
                "{standing} earned {earned}"
            );
        }

        // The champion's recipe is published; the others' are not.
        let winner_id = bracket["winner"]["recipe_id"].as_str().unwrap();
        let files = app
            .api(
                "GET",
                &format!("/api/v1/recipes/{winner_id}/files"),
                None,
                None,
            )
            .await;
        assert_eq!(files.status, StatusCode::OK, "{}", files.body);
        let dockerfile = files.json()["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["path"].as_str().unwrap().ends_with("Dockerfile"))
            .cloned()
            .unwrap();
        assert!(
            dockerfile["text"]
                .as_str()
                .unwrap()
                .contains("FROM scratch"),
            "{dockerfile}"
        );
        let download = app
            .api(
                "GET",
                &format!("/api/v1/recipes/{winner_id}/download"),
                None,
                None,
            )
            .await;
        assert_eq!(download.status, StatusCode::OK);
        let loser = &miners.iter().find(|(_, id)| id != winner_id).unwrap().1;
        let hidden = app
            .api(
                "GET",
                &format!("/api/v1/recipes/{loser}/download"),
                None,
                None,
            )
            .await;
        assert_eq!(hidden.status, StatusCode::NOT_FOUND, "{}", hidden.body);

        // The tournament leaderboard sums each miner's points; the champion has a title.
        let board = app
            .api(
                "GET",
                "/api/v1/tournaments/leaderboard?kind=text",
                None,
                None,
            )
            .await
            .json();
        let miners = board["miners"].as_array().unwrap();
        let champion = miners
            .iter()
            .find(|m| m["hotkey"] == bracket["winner"]["hotkey"])
            .unwrap();
        assert_eq!(champion["titles"], 1, "{board}");
        assert!(
            miners
                .windows(2)
                .all(|w| w[0]["points"].as_f64() >= w[1]["points"].as_f64()),
            "by points: {board}"
        );
        assert_eq!(miners.len(), 9);
        let list = app.get("/tournaments").await.body;
        assert!(list.contains("data-test=\"tournament-standing\""), "{list}");

        // The page shows the bracket to anyone.
        let page = app.get(&format!("/tournaments/{id}")).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(
            page.body.contains("data-test=\"bracket\"") && page.body.contains(&winner),
            "{}",
            page.body
        );

        // Champion mode: the champion's recipe (crucible-train, FROM scratch) fine-tunes a customer's
        // task on this machine's Docker engine, in a six-second window; crucible-eval scores the model.
        let request = json!({"dataset_id": dataset["id"], "model_id": "crucible/reference-tiny", "hours_to_complete": 1, "run_by": "champion"});
        let created = app
            .api("POST", "/api/v1/tasks", Some(&key), Some(request))
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        let task_id = created.json()["id"].as_str().unwrap().to_string();
        let started = Instant::now();
        app.run_jobs().await;
        eprintln!(
            "the champion trained a task in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let task = app
            .api("GET", &format!("/api/v1/tasks/{task_id}"), Some(&key), None)
            .await
            .json();
        let events = app
            .api(
                "GET",
                &format!("/api/v1/tasks/{task_id}/events"),
                Some(&key),
                None,
            )
            .await
            .body;
        assert_eq!(task["state"], "success", "{events}");
        assert!(
            events.contains(&format!(
                "the champion's recipe {winner} trained a model in"
            )),
            "{events}"
        );
        let listed = app
            .api(
                "GET",
                &format!("/api/v1/tasks/{task_id}/submissions"),
                Some(&key),
                None,
            )
            .await
            .json();
        let submission = &listed["submissions"][0];
        assert_eq!(submission["miner"], bracket["winner"]["hotkey"], "{listed}");
        let loss = submission["loss"].as_f64().unwrap();
        assert!(loss.is_finite() && loss > 0.0, "{listed}");
        let result = app
            .api(
                "GET",
                &format!("/api/v1/tasks/{task_id}/result"),
                Some(&key),
                None,
            )
            .await;
        assert_eq!(result.status, StatusCode::OK);
        assert!(
            result.body.contains("config.json"),
            "a model in the Hugging Face layout"
        );
    });
}

/// Probe recipes in `modes`, one miner each (key seeds from `first`), uploaded and built.
async fn probe_recipes(
    app: &mut TestApp,
    dir: &Path,
    first: u8,
    modes: &[&str],
) -> Vec<(schnorrkel::Keypair, String)> {
    let mut recipes = Vec::new();
    for (index, mode) in modes.iter().enumerate() {
        let keys = miner_keys(first + index as u8);
        app.register_miner(&keys, &["instruct"], 8_000_000_000)
            .await;
        let uploaded = app
            .signed(
                "PUT",
                &format!("/api/v1/miner/recipes?name={mode}-{index}"),
                &keys,
                probe_recipe(dir, mode),
            )
            .await;
        assert_eq!(uploaded.status, StatusCode::ACCEPTED, "{}", uploaded.body);
        recipes.push((keys, uploaded.json()["id"].as_str().unwrap().to_string()));
    }
    app.run_jobs().await;
    recipes
}

async fn enter(
    app: &mut TestApp,
    id: &str,
    (keys, recipe): &(schnorrkel::Keypair, String),
) -> StatusCode {
    let body = json!({"recipe_id": recipe}).to_string().into_bytes();
    app.signed(
        "POST",
        &format!("/api/v1/miner/tournaments/{id}/entries"),
        keys,
        body,
    )
    .await
    .status
}

/// Asks for a task of `hours` (two seconds each here) on the dataset, trained by the reigning champion.
async fn champion_task(
    app: &mut TestApp,
    key: &str,
    dataset: &Value,
    dry_run: bool,
) -> (StatusCode, Value) {
    let request = json!({"dataset_id": dataset["id"], "model_id": "crucible/reference-tiny", "hours_to_complete": 3, "run_by": "champion", "dry_run": dry_run});
    let answer = app
        .api("POST", "/api/v1/tasks", Some(key), Some(request))
        .await;
    (answer.status, answer.json())
}

/// Task `id` as its owner reads it, with its events.
async fn task_of(app: &mut TestApp, key: &str, id: &str) -> (Value, Vec<String>) {
    let task = app
        .api("GET", &format!("/api/v1/tasks/{id}"), Some(key), None)
        .await
        .json();
    let reasons = app.event_reasons(key, id).await;
    (task, reasons)
}

async fn state_of(app: &mut TestApp, id: &str) -> Value {
    app.api("GET", &format!("/api/v1/tournaments/{id}"), None, None)
        .await
        .json()
}

testkit::on_both_databases! {
    async fn a_recipe_that_would_read_another_miners_or_fetch_anything_is_refused_before_it_is_built(db: Database) {
        let mut app = TestApp::new(db).await;
        app.configure(|platform| {
            platform.trainers = Some(domain::tournaments::Trainers {
                docker: runner::DockerRunner::connect(None).unwrap(),
                limits: runner::Limits::default(),
                build_timeout: Duration::from_secs(60),
                max_recipe_bytes: 1 << 20,
                allowed_bases: Vec::new(),
            });
        });
        let thief = miner_keys(90);
        app.register_miner(&thief, &["instruct"], 8_000_000_000).await;
        // Recipe ids are public in brackets; the old image tags were built from them.
        let victim = "crucible-recipe:0190aa00-0000-7000-8000-000000000000";
        for (dockerfile, answer) in [
            (format!("FROM {victim}\nENTRYPOINT [\"/train\"]\n"), format!("FROM {victim}")),
            (format!("FROM scratch\nCOPY --from={victim} /train /train\n"), format!("COPY --from={victim}")),
            ("FROM scratch\nADD http://169.254.169.254/latest/meta-data/ /creds\n".into(), "ADD http://169.254.169.254".into()),
            ("FROM debian:bookworm\nRUN apt-get update\n".into(), "FROM debian:bookworm".into()),
            ("# syntax=docker/dockerfile:1\nFROM scratch\n".into(), "syntax".into()),
        ] {
            let refused = app.signed("PUT", "/api/v1/miner/recipes?name=thief", &thief, testkit::recipes::dockerfile_only(&dockerfile)).await;
            assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{dockerfile}: {}", refused.body);
            let error = &refused.json()["error"];
            assert_eq!(error["field"], "context");
            assert!(error["message"].as_str().unwrap().contains(&answer), "{dockerfile}: {error}");
        }
        let listed = app.signed("GET", "/api/v1/miner/recipes", &thief, Vec::new()).await.json();
        assert_eq!(listed["recipes"], json!([]), "nothing refused is stored or queued for a build");
    }

    async fn too_few_entrants_extend_registration_a_bye_wins_and_the_next_champion_takes_the_title_in_the_boss_round(db: Database) {
        let mut app = TestApp::new(db).await;
        let work = tempfile::tempdir().unwrap();
        let models = work.path().join("base-models");
        std::fs::create_dir_all(models.join("crucible/reference-tiny")).unwrap();
        app.configure(|platform| {
            platform.evaluator = Some(domain::evaluation::Evaluator {
                runner: std::sync::Arc::new(runner::ProcessRunner::default()),
                command: vec!["python3".into(), concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/loss_evaluator.py").into()],
                in_container: false,
                limits: runner::Limits { time: Duration::from_secs(30), ..Default::default() },
                base_models: models.clone(),
                families: None,
            });
            platform.trainers = Some(domain::tournaments::Trainers {
                docker: runner::DockerRunner::connect(None).unwrap(),
                limits: runner::Limits { memory_bytes: 256 << 20, cpus: 1.0, ..Default::default() },
                build_timeout: Duration::from_secs(120),
                max_recipe_bytes: 16 << 20,
                allowed_bases: Vec::new(),
            });
            platform.scheduling.hour_ms = 2_000;
            platform.tournament_schedule = domain::tournaments::Schedule {
                // Long enough for a loaded machine to enter three recipes while it is open.
                registration_ms: 3_000,
                min_entrants: 2,
                registration_retries: 1,
                gap_ms: 0,
            };
        });
        let recipes = probe_recipes(&mut app, work.path(), 150, &["crash", "crash", "net"]).await;
        // Built now, so that the next tournament's registration is not spent building them.
        let challengers = probe_recipes(&mut app, work.path(), 160, &["loss", "crash"]).await;
        let key = admin_key(&mut app, "ops@example.org").await;
        let dataset = validated_dataset(&mut app, &key).await;
        let request = json!({"dataset_id": dataset["id"], "model_id": "crucible/reference-tiny", "hours": 1});
        let customer = app.customer_key("someone@example.org").await;
        let refused = app.api("POST", "/api/v1/tournaments", Some(&customer), Some(request.clone())).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "only admins open tournaments: {}", refused.body);
        let id = app.api("POST", "/api/v1/tournaments", Some(&key), Some(request)).await.json()["id"].as_str().unwrap().to_string();

        // Champion mode needs a champion: none has been crowned yet.
        let (status, refused) = champion_task(&mut app, &key, &dataset, true).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
        assert_eq!(refused["error"]["field"], "run_by", "{refused}");
        assert!(refused["error"]["message"].as_str().unwrap().contains("no text tournament has crowned a champion yet"), "{refused}");

        assert_eq!(enter(&mut app, &id, &recipes[0]).await, StatusCode::CREATED);
        tokio::time::sleep(Duration::from_millis(3_100)).await;
        app.run_jobs().await;
        let extended = state_of(&mut app, &id).await;
        assert_eq!(extended["state"], "pending");
        assert!(extended["reason"].as_str().unwrap().starts_with("1 of the 2 entrants needed; registration stays open"), "{extended}");

        assert_eq!(enter(&mut app, &id, &recipes[1]).await, StatusCode::CREATED);
        assert_eq!(enter(&mut app, &id, &recipes[2]).await, StatusCode::CREATED);
        tokio::time::sleep(Duration::from_millis(3_100)).await;
        app.run_jobs().await;
        let ended = state_of(&mut app, &id).await;
        assert_eq!(ended["state"], "completed", "{ended}");
        let first = ended["matches"].as_array().unwrap();
        assert_eq!(first.len(), 2, "a bye and a pair: {ended}");
        assert!(first[1]["outcome"].as_str().unwrap().contains("nobody advances"), "{}", first[1]["outcome"]);
        assert_eq!(ended["winner"]["recipe_id"], recipes[0].1.as_str(), "the best seed had the bye and is the last one standing");
        assert_eq!(enter(&mut app, &id, &recipes[2]).await, StatusCode::CONFLICT, "registration is closed");

        // Champion mode with a champion whose recipe crashes: the task ends in failure, saying why.
        let (status, plan) = champion_task(&mut app, &key, &dataset, true).await;
        assert_eq!(status, StatusCode::OK, "{plan}");
        assert_eq!((plan["run_by"].as_str(), plan["champion"]["recipe_id"].as_str()), (Some("champion"), Some(recipes[0].1.as_str())), "{plan}");
        let (status, task) = champion_task(&mut app, &key, &dataset, false).await;
        assert_eq!(status, StatusCode::CREATED, "{task}");
        let failed = task["id"].as_str().unwrap().to_string();
        // Its two jobs run by hand, so that the next tournament's registration is left to itself.
        let platform = app.state.platform.clone();
        domain::tasks::prepare(&platform.dispatch(), &failed).await.unwrap();
        let arena = platform.arena().expect("trainer hosts and an evaluator");
        domain::tournaments::champion::train(&arena, &failed).await.unwrap();
        let (task, reasons) = task_of(&mut app, &key, &failed).await;
        assert_eq!(task["state"], "failure", "{reasons:?}");
        assert!(reasons.iter().any(|r| r.contains("the champion's recipe crash-0 produced no model: the recipe ended with")), "{reasons:?}");

        // The next tournament opens after the gap, with the champion defending its title.
        let list = app.api("GET", "/api/v1/tournaments", None, None).await.json();
        let next = &list["tournaments"][0];
        assert_ne!(next["id"], id.as_str(), "{list}");
        assert_eq!((next["state"].as_str(), next["champion_wins"].as_i64()), (Some("pending"), Some(1)), "{next}");
        assert_eq!(next["champion"]["recipe_id"], recipes[0].1.as_str());

        // A challenger whose model scores meets the champion (whose runs crash) in a boss round of
        // six tasks, wins all six and takes the title.
        let next_id = next["id"].as_str().unwrap().to_string();
        for challenger in &challengers {
            assert_eq!(enter(&mut app, &next_id, challenger).await, StatusCode::CREATED);
        }
        tokio::time::sleep(Duration::from_millis(3_100)).await;
        app.run_jobs().await;
        let decided = state_of(&mut app, &next_id).await;
        assert_eq!(decided["state"], "completed", "{decided}");
        assert_eq!(decided["winner"]["recipe_id"], challengers[0].1.as_str(), "{decided}");
        let boss = decided["matches"].as_array().unwrap().iter().find(|m| m["kind"] == "boss").cloned().unwrap();
        assert_eq!((boss["round"].as_i64(), boss["tasks"].as_i64()), (Some(2), Some(6)), "{boss}");
        assert!(boss["outcome"].as_str().unwrap().contains("on 6 of 6 tasks (4 needed): it takes the title"), "{}", boss["outcome"]);
        let challenger_runs = boss["entrants"].as_array().unwrap().iter().find(|e| e["name"]["recipe_id"] == challengers[0].1.as_str()).unwrap()["runs"].clone();
        assert_eq!(challenger_runs.as_array().unwrap().len(), 6);
        assert!(challenger_runs.as_array().unwrap().iter().all(|r| r["loss"] == 0.5), "{challenger_runs}");
        let board = app.api("GET", "/api/v1/tournaments/leaderboard?kind=text", None, None).await.json();
        let titles: i64 = board["miners"].as_array().unwrap().iter().map(|m| m["titles"].as_i64().unwrap()).sum();
        assert_eq!(titles, 2, "two tournaments, two titles: {board}");

        // Champion mode with the new champion: its recipe trains the customer's task on the trainer
        // host, and its model is evaluated at once (not at the deadline) and delivered.
        let (status, task) = champion_task(&mut app, &key, &dataset, false).await;
        assert_eq!(status, StatusCode::CREATED, "{task}");
        let task_id = task["id"].as_str().unwrap().to_string();
        assert_eq!((task["run_by"].as_str(), task["champion_recipe_id"].as_str()), (Some("champion"), Some(challengers[0].1.as_str())));
        app.run_jobs().await;
        let (task, reasons) = task_of(&mut app, &key, &task_id).await;
        assert_eq!(task["state"], "success", "{reasons:?}");
        assert!(reasons.iter().any(|r| r.starts_with("the champion's recipe loss-0 trained a model in")), "{reasons:?}");
        assert!(task["deadline_at"].as_i64().unwrap() > domain::clock::now_ms(), "done before its deadline: {task}");
        let listed = app.api("GET", &format!("/api/v1/tasks/{task_id}/submissions"), Some(&key), None).await.json();
        let listed = listed["submissions"].as_array().unwrap().clone();
        assert_eq!(listed.len(), 1, "{listed:?}");
        let champion_hotkey = domain::miners::Hotkey::from_public_key(challengers[0].0.public.to_bytes()).to_string();
        assert_eq!((listed[0]["miner"].as_str(), listed[0]["loss"].as_f64()), (Some(champion_hotkey.as_str()), Some(0.5)));
        // A one-entry "competition" earns nothing: champion mode records no score for the champion.
        assert_eq!(listed[0]["points"], Value::Null, "{listed:?}");
        let scored: i64 = sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM scores WHERE task_id = $1")
            .bind(&task_id).fetch_one(app.state.platform.db.pool()).await.unwrap();
        assert_eq!(scored, 0, "champion mode awards no miner points");
        assert!(reasons.iter().any(|r| r.contains("champion mode awards no points")), "{reasons:?}");
        let download = app.api("GET", &format!("/api/v1/tasks/{task_id}/result"), Some(&key), None).await;
        assert_eq!(download.status, StatusCode::OK, "{}", download.body);
        assert!(download.body.contains("loss.txt"), "the recipe's output, packed as a tar");
        app.forget_cookies();
        app.sign_in("ops@example.org", common::PASSWORD).await;
        let page = app.get(&format!("/tasks/{task_id}")).await.body;
        assert!(page.contains("data-test=\"task-champion\""), "{page}");

        // The champion — a signed miner who played both tournaments and trained the champion-mode
        // task — walks every route, and so do the customers: no answer holds a held-out row.
        let dataset_id = dataset["id"].as_str().unwrap();
        let splits = common::splits_of(&app, dataset_id).await;
        let secrets = common::instructions_in(&app, &splits.test()).await;
        let other = app.customer_key("other@example.org").await;
        let walkers = common::Walkers::customers("ops@example.org", &key, &other).and_miner(&challengers[0].0);
        let object_keys = [splits.test().as_str().to_string()];
        common::assert_no_route_returns(&mut app, &[dataset_id, &task_id, &next_id], &object_keys, &secrets, &walkers).await;
    }
}
