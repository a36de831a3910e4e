//! Two `crucible serve` processes on one PostgreSQL database share the work: tasks created on either
//! are prepared, offered and started exactly once — one offer per miner and task, one event per move —
//! whichever replica claims each step. With one replica killed mid-job, the other takes its evaluation
//! or its tournament run over, and nothing is lost or recorded twice.

use std::collections::BTreeMap;

use end2end::{
    create_task, customer_key, free_port, get_json, listening, miner_keys, ready_dataset, start,
    wait_until,
};
use serde_json::{Value, json};

/// A signed request to a replica that must answer.
async fn signed(method: &str, url: &str, keys: &schnorrkel::Keypair, body: &[u8]) -> (u16, Value) {
    end2end::signed(method, url, keys, body, &[])
        .await
        .unwrap_or_else(|| panic!("{method} {url}: no answer"))
}

#[tokio::test]
async fn two_replicas_on_one_postgresql_never_do_a_step_twice() {
    let url = testkit::postgres_database_url().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_arg = data.to_string_lossy().to_string();
    let key = customer_key(
        &["--data-dir", &data_arg, "--database-url", &url],
        "r@example.org",
    );

    let env = [
        ("CRUCIBLE_MIN_DATASET_ROWS", "20"),
        ("CRUCIBLE_JOB_LEASE_MS", "2000"),
        ("CRUCIBLE_OFFER_TTL_SECS", "120"),
    ];
    let ports = [free_port(), free_port()];
    let _a = start(&data, ports[0], &["--database-url", &url], &env);
    listening(ports[0]).await;
    let _b = start(&data, ports[1], &["--database-url", &url], &env);
    listening(ports[1]).await;
    let base = |i: usize| format!("http://127.0.0.1:{}", ports[i % 2]);

    let miners: Vec<schnorrkel::Keypair> = (1..=15u8).map(miner_keys).collect();
    let declaration =
        json!({"task_types": ["instruct"], "max_parameters": 8_000_000_000u64}).to_string();
    for (i, keys) in miners.iter().enumerate() {
        let (status, answer) = signed(
            "POST",
            &format!("{}/api/v1/miner/register", base(i)),
            keys,
            declaration.as_bytes(),
        )
        .await;
        assert_eq!(status, 200, "{answer}");
    }

    let dataset = ready_dataset(&base(0), &base(1), &key, 60).await;
    let mut tasks = Vec::new();
    for i in 0..6 {
        tasks.push(create_task(&base(i), &key, &dataset, "Qwen/Qwen2.5-0.5B-Instruct").await);
    }

    // Every miner takes every offer, asking either replica, until every task is training.
    let mut accepted = BTreeMap::new();
    let mut round = 0usize;
    wait_until("every task is training", 120, async || {
        round += 1;
        for (i, keys) in miners.iter().enumerate() {
            let (_, answer) = signed(
                "GET",
                &format!("{}/api/v1/miner/offers", base(i + round)),
                keys,
                b"",
            )
            .await;
            for offer in answer["offers"].as_array().cloned().unwrap_or_default() {
                let id = offer["id"].as_str().unwrap();
                let (status, answer) = signed(
                    "POST",
                    &format!("{}/api/v1/miner/offers/{id}/accept", base(i + round + 1)),
                    keys,
                    b"",
                )
                .await;
                assert_eq!(status, 200, "{answer}");
                *accepted
                    .entry(offer["task_id"].as_str().unwrap().to_string())
                    .or_insert(0) += 1;
            }
        }
        let mut training = 0;
        for id in &tasks {
            if get_json(&format!("{}/api/v1/tasks/{id}", base(round)), &key)
                .await
                .is_some_and(|t| t["state"] == "training")
            {
                training += 1;
            }
        }
        training == tasks.len()
    })
    .await;

    for id in &tasks {
        assert_eq!(
            accepted.get(id),
            Some(&15),
            "one offer to each of the 15 miners for task {id}"
        );
        let events = get_json(&format!("{}/api/v1/tasks/{id}/events", base(0)), &key)
            .await
            .unwrap();
        let states: Vec<&str> = events["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["to_state"].as_str().unwrap())
            .collect();
        assert_eq!(
            states,
            [
                "pending",
                "preparing_data",
                "looking_for_nodes",
                "ready",
                "training"
            ],
            "task {id}"
        );
    }
}

/// A webhook receiver on loopback: answers 200 to every POST and keeps each delivery's
/// `webhook-id` and body.
async fn webhook_receiver() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = received.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let kept = kept.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0u8; 8192];
                loop {
                    let Ok(n) = socket.read(&mut buffer).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buffer[..n]);
                    let text = String::from_utf8_lossy(&request).to_string();
                    let Some((head, body)) = text.split_once("\r\n\r\n") else {
                        continue;
                    };
                    let header = |name: &str| {
                        head.lines()
                            .find_map(|l| {
                                l.split_once(':')
                                    .filter(|(k, _)| k.eq_ignore_ascii_case(name))
                            })
                            .map(|(_, v)| v.trim().to_string())
                    };
                    let length: usize = header("content-length")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    if body.len() < length {
                        continue;
                    }
                    let id = header("webhook-id").unwrap_or_default();
                    kept.lock().unwrap().push((id, body.to_string()));
                    let _ = socket
                        .write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                        )
                        .await;
                    return;
                }
            });
        }
    });
    (port, received)
}

/// Two replicas serving `data` with `args`, listening, on short leases so that the survivor takes a
/// killed replica's jobs over within seconds.
async fn two_replicas(
    data: &std::path::Path,
    args: &[&str],
) -> ([Option<end2end::Server>; 2], [u16; 2]) {
    let env = [("CRUCIBLE_JOB_LEASE_MS", "2000")];
    let ports = [free_port(), free_port()];
    let servers = [
        Some(start(data, ports[0], args, &env)),
        Some(start(data, ports[1], args, &env)),
    ];
    listening(ports[0]).await;
    listening(ports[1]).await;
    (servers, ports)
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_evaluate_and_announce_a_task_when_one_is_killed_mid_evaluation() {
    use end2end::reference::{Miners, THREE_RECIPES, make_base_models, sibling};

    let url = testkit::postgres_database_url().await;
    let db = domain::db::Database::connect(&domain::db::DatabaseUrl::parse(&url).unwrap())
        .await
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let base_models = work.path().join("base-models");
    make_base_models(&base_models);
    let data = work.path().join("data");
    let data_arg = data.to_string_lossy().to_string();
    let key = customer_key(
        &["--data-dir", &data_arg, "--database-url", &url],
        "evaluated@example.org",
    );
    let evaluator = sibling("crucible-eval");
    let args = [
        "--database-url",
        &url,
        "--evaluator",
        evaluator.to_str().unwrap(),
        "--base-models",
        base_models.to_str().unwrap(),
        "--hour-ms",
        "20000",
        "--text-pool",
        "3-3",
        "--min-dataset-rows",
        "50",
        "--evaluation-secs",
        "120",
        "--webhook-allow-private",
    ];
    let (mut servers, ports) = two_replicas(&data, &args).await;
    let base = |i: usize| format!("http://127.0.0.1:{}", ports[i]);

    let (hook_port, received) = webhook_receiver().await;
    let hook = json!({"url": format!("http://127.0.0.1:{hook_port}/hook"), "secret": "a secret of sixteen+"});
    let (status, answer) =
        end2end::post_json(&format!("{}/api/v1/webhooks", base(1)), &key, &hook).await;
    assert_eq!(status, 201, "{answer}");

    let mut miners = Miners::default();
    for (i, recipe) in THREE_RECIPES.into_iter().enumerate() {
        miners.start(&base(1), &base_models, work.path(), i, recipe, 1);
    }
    let rows: String = (0..120)
        .map(|i| json!({"instruction": format!("Name colour number {i}."), "output": format!("Colour {i} is red.")}).to_string() + "\n")
        .collect();
    let dataset = end2end::ready_dataset_of(&base(0), &base(1), &key, "instruct", &rows).await;
    let id = create_task(&base(0), &key, &dataset, "crucible/reference-tiny").await;

    // The replica that claims a submission's evaluation is killed mid-job (SIGKILL: it releases
    // nothing); the other takes the job over once its lease lapses.
    let pids = servers.each_ref().map(|s| s.as_ref().unwrap().0.id());
    let mut victim = None;
    wait_until("a replica evaluates a submission", 300, async || {
        let claimants: Vec<Option<String>> = sqlx::query_scalar(
            "SELECT claimed_by FROM jobs WHERE kind = 'evaluate_submission' AND state = 'running'",
        )
        .fetch_all(db.pool())
        .await
        .unwrap();
        victim = claimants.iter().flatten().find_map(|claimant| {
            pids.iter()
                .position(|pid| claimant.ends_with(&format!(":{pid}")))
        });
        victim.is_some()
    })
    .await;
    let victim = victim.unwrap();
    drop(servers[victim].take());
    let survivor = 1 - victim;
    let base = |_: usize| format!("http://127.0.0.1:{}", ports[survivor]);

    let task = end2end::ended_task(&base(1), &key, &id, 300).await;
    let events = get_json(&format!("{}/api/v1/tasks/{id}/events", base(1)), &key)
        .await
        .unwrap();
    assert_eq!(task["state"], "success", "{events}");
    let states: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["to_state"].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        [
            "pending",
            "preparing_data",
            "looking_for_nodes",
            "ready",
            "training",
            "preevaluation",
            "evaluating",
            "success"
        ],
        "one event per move, whichever replica made it"
    );
    let submissions = get_json(&format!("{}/api/v1/tasks/{id}/submissions", base(1)), &key)
        .await
        .unwrap();
    let list = submissions["submissions"].as_array().unwrap();
    assert_eq!(list.len(), 3, "{submissions}");
    assert!(
        list.iter().all(|s| s["loss"].as_f64().is_some()),
        "every submission scored: {submissions}"
    );
    let points: i64 =
        sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM scores WHERE task_id = $1")
            .bind(&id)
            .fetch_one(db.pool())
            .await
            .unwrap();
    assert_eq!(points, 3, "one score per miner, recorded once");
    let evaluations: Vec<(String, i64)> =
        sqlx::query_as("SELECT submission_id, attempts FROM evaluations WHERE task_id = $1")
            .bind(&id)
            .fetch_all(db.pool())
            .await
            .unwrap();
    assert_eq!(
        evaluations.len(),
        3,
        "one evaluation per submission: {evaluations:?}"
    );

    // The end is announced once: one delivery, delivered once.
    wait_until("the webhook is delivered", 60, async || {
        !received.lock().unwrap().is_empty()
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let received = received.lock().unwrap().clone();
    assert_eq!(received.len(), 1, "{received:?}");
    assert!(
        received[0].1.contains("task.success") && received[0].1.contains(&id),
        "{received:?}"
    );

    // The killed replica's claim was taken over, not lost: a job ran again under a new claim.
    let taken_over: i64 = sqlx::query_scalar(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM jobs WHERE subject_id = $1 AND attempts > 1",
    )
    .bind(&id)
    .fetch_one(db.pool())
    .await
    .unwrap();
    let unfinished: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT kind, state, attempts FROM jobs WHERE subject_id = $1 AND state IN ('running', 'failed')",
    )
    .bind(&id)
    .fetch_all(db.pool())
    .await
    .unwrap();
    assert_eq!(
        unfinished,
        Vec::new(),
        "no job of the task is left running or failed"
    );
    assert!(
        taken_over >= 1,
        "the killed replica's evaluation was claimed again"
    );
    println!("jobs of the task claimed again after the kill: {taken_over}");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_play_a_tournament_when_one_is_killed_mid_run() {
    use end2end::reference::{make_base_models, sibling};

    let url = testkit::postgres_database_url().await;
    let db = domain::db::Database::connect(&domain::db::DatabaseUrl::parse(&url).unwrap())
        .await
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let base_models = work.path().join("base-models");
    make_base_models(&base_models);
    let data = work.path().join("data");
    let data_arg = data.to_string_lossy().to_string();
    let key = end2end::admin_key(
        &["--data-dir", &data_arg, "--database-url", &url],
        "organiser@example.org",
    );
    let evaluator = sibling("crucible-eval");
    let args = [
        "--database-url",
        &url,
        "--evaluator",
        evaluator.to_str().unwrap(),
        "--base-models",
        base_models.to_str().unwrap(),
        "--trainers",
        "local",
        "--trainer-mib",
        "1024",
        // A run has one of the platform's hours: eight seconds, long enough to kill a replica mid-run.
        "--hour-ms",
        "8000",
        "--tournament-registration-secs",
        "3",
        "--tournament-min-entrants",
        "3",
        "--min-dataset-rows",
        "50",
    ];
    let (mut servers, ports) = two_replicas(&data, &args).await;
    let base = |i: usize| format!("http://127.0.0.1:{}", ports[i]);

    let dataset = ready_dataset(&base(0), &base(1), &key, 60).await;
    // The sleeper sleeps past its hour: its runs last the whole eight seconds, then fail.
    let mut recipes = end2end::reference::tournament_recipes(work.path());
    recipes.push(("sleeper", testkit::recipes::probe(work.path(), "sleep")));
    let entrants = end2end::reference::built_recipes(&[base(0), base(1)], &recipes, 80).await;
    let request = json!({"dataset_id": dataset, "model_id": "crucible/reference-tiny", "hours": 1});
    let (status, opened) =
        end2end::post_json(&format!("{}/api/v1/tournaments", base(1)), &key, &request).await;
    assert_eq!(status, 201, "{opened}");
    let id = opened["id"].as_str().unwrap().to_string();
    for (i, (keys, recipe)) in entrants.iter().enumerate() {
        let enter = format!("{}/api/v1/miner/tournaments/{id}/entries", base(i % 2));
        let body = json!({"recipe_id": recipe}).to_string();
        let (status, answer) = signed("POST", &enter, keys, body.as_bytes()).await;
        assert_eq!(status, 201, "{answer}");
    }

    // The replica running the sleeper is killed (SIGKILL: it releases nothing) a second into the run;
    // the other takes the run over once the lease lapses.
    let sleeper = entrants[2].1.clone();
    let pids = servers.each_ref().map(|s| s.as_ref().unwrap().0.id());
    let mut victim = None;
    wait_until("a replica runs the sleeper", 300, async || {
        let running: Vec<(Option<String>, String)> = sqlx::query_as(
            "SELECT claimed_by, payload FROM jobs WHERE kind = 'run_entrant' AND state = 'running'",
        )
        .fetch_all(db.pool())
        .await
        .unwrap();
        victim = running
            .iter()
            .filter(|(_, payload)| payload.contains(&sleeper))
            .find_map(|(claimant, _)| {
                let claimant = claimant.as_deref()?;
                pids.iter()
                    .position(|pid| claimant.ends_with(&format!(":{pid}")))
            });
        victim.is_some()
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let victim = victim.unwrap();
    drop(servers[victim].take());
    let survivor = base(1 - victim);

    let mut bracket = Value::Null;
    wait_until("the tournament ends", 300, async || {
        bracket = get_json(&format!("{survivor}/api/v1/tournaments/{id}"), &key)
            .await
            .unwrap_or_default();
        bracket["state"] == "completed" || bracket["state"] == "cancelled"
    })
    .await;
    assert_eq!(bracket["state"], "completed", "{bracket}");
    let winner = bracket["winner"]["recipe_id"].as_str().unwrap_or_default();
    assert_ne!(winner, sleeper, "the sleeper fails every run: {bracket}");

    // Nothing lost, nothing twice: every entrant of every match has one run per task, each recorded
    // by one finished job, and no job of the tournament is left running or failed.
    let expected: i64 = sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(m.tasks), 0) AS BIGINT) FROM tournament_matches m \
         JOIN tournament_match_entrants e ON e.match_id = m.id WHERE m.tournament_id = $1",
    )
    .bind(&id)
    .fetch_one(db.pool())
    .await
    .unwrap();
    let runs: i64 = sqlx::query_scalar(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM tournament_runs r \
         JOIN tournament_matches m ON m.id = r.match_id WHERE m.tournament_id = $1",
    )
    .bind(&id)
    .fetch_one(db.pool())
    .await
    .unwrap();
    let jobs: Vec<(String, i64)> = sqlx::query_as(
        "SELECT state, attempts FROM jobs WHERE kind = 'run_entrant' AND payload LIKE $1",
    )
    .bind(format!("%{id}%"))
    .fetch_all(db.pool())
    .await
    .unwrap();
    assert!(expected > 0, "{bracket}");
    assert_eq!(runs, expected, "one run per entrant and task: {bracket}");
    assert_eq!(jobs.len() as i64, expected, "one job per run: {jobs:?}");
    assert!(
        jobs.iter().all(|(state, _)| state == "done"),
        "every run's job finished: {jobs:?}"
    );
    assert!(
        jobs.iter().any(|(_, attempts)| *attempts > 1),
        "the killed replica's run was claimed again: {jobs:?}"
    );
    let left: Vec<(String, String)> = sqlx::query_as(
        "SELECT kind, state FROM jobs WHERE subject_id = $1 AND state IN ('running', 'failed')",
    )
    .bind(&id)
    .fetch_all(db.pool())
    .await
    .unwrap();
    assert_eq!(
        left,
        Vec::new(),
        "no step of the tournament left running or failed"
    );

    // The killed replica's container of the sleeper's run was removed when the run was taken over:
    // no container of the sleeper is left running.
    let docker = runner::DockerRunner::connect(None).unwrap();
    let running = docker.list_containers(None).await.unwrap();
    let sleepers: Vec<_> = running
        .iter()
        .filter(|c| {
            c.labels
                .as_ref()
                .and_then(|labels| labels.get("crucible.work"))
                .is_some_and(|work| work.contains(&sleeper))
        })
        .map(|c| c.id.clone())
        .collect();
    assert_eq!(
        sleepers,
        Vec::<Option<String>>::new(),
        "no orphan of the sleeper's run"
    );
}
