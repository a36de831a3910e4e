//! Durability of background work: a server killed (SIGKILL) in the middle of validating a dataset
//! finishes the validation after a restart, with exactly the result of an undisturbed run; a server
//! stopped (SIGTERM) in the middle releases the job, which the next server takes at once.

use end2end::{crucible, customer_key, get_json, start, wait_until};
use serde_json::Value;

/// Small datasets pass, and a dead server's job is taken up again within two seconds.
const LIMITS: [(&str, &str); 2] = [
    ("CRUCIBLE_MIN_DATASET_ROWS", "20"),
    ("CRUCIBLE_JOB_LEASE_MS", "2000"),
];

#[tokio::test]
async fn a_server_killed_mid_validation_finishes_it_after_restart_with_the_same_result() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_arg = data.to_string_lossy().to_string();
    let key = customer_key(&["--data-dir", &data_arg], "r@example.org");

    let file = dir.path().join("big.jsonl");
    let text = big_file();
    std::fs::write(&file, &text).unwrap();

    let port = end2end::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let server = start(&data, port, &[], &LIMITS);
    end2end::listening(port).await;
    let id = validating(&base, &key, &text, 99).await;

    // Kill the server once validation is under way, part-way through the file.
    let url = format!("{base}/api/v1/datasets/{id}");
    let size = text.len() as i64;
    wait_until("validation has read part of the file", 60, async || {
        let d = get_json(&url, &key).await.unwrap();
        let read = d["validated_bytes"].as_i64().unwrap();
        assert_eq!(
            d["state"], "validating",
            "validation finished before the server could be killed"
        );
        read > 0 && read < size
    })
    .await;
    drop(server);

    let _server = start(&data, port, &[], &LIMITS);
    wait_until("the server listens again", 30, async || {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
    })
    .await;
    wait_until(
        "the restarted server finishes the validation",
        180,
        async || {
            get_json(&url, &key)
                .await
                .is_some_and(|d| d["state"] == "ready")
        },
    )
    .await;
    let dataset = get_json(&url, &key).await.unwrap();

    // The same validation, undisturbed, on the command line.
    let train = dir.path().join("train.jsonl");
    let test = dir.path().join("test.jsonl");
    let report = crucible(&[
        "datasets",
        "check",
        &file.to_string_lossy(),
        "--task-type",
        "instruct",
        "--seed",
        "99",
        "--min-rows",
        "20",
        "--train-out",
        &train.to_string_lossy(),
        "--test-out",
        &test.to_string_lossy(),
    ]);
    let report: Value = serde_json::from_str(&report).unwrap();
    assert_eq!(
        dataset["report"], report,
        "the report after a crash equals an undisturbed run's"
    );
    // The one validation wrote its splits under a prefix of its own.
    let prefixes: Vec<_> =
        std::fs::read_dir(data.join("objects/datasets").join(&id).join("splits"))
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect();
    assert_eq!(prefixes.len(), 1, "{prefixes:?}");
    let stored = &prefixes[0];
    assert!(
        std::fs::read(stored.join("test.jsonl")).unwrap() == std::fs::read(&test).unwrap(),
        "the test split differs"
    );
    assert!(
        std::fs::read(stored.join("train.jsonl")).unwrap() == std::fs::read(&train).unwrap(),
        "the training split differs"
    );
    let partial = std::fs::read_dir(data.join("objects/.partial"))
        .unwrap()
        .count();
    assert_eq!(partial, 0, "no half-written object is left behind");
}

/// A dataset large enough that its validation takes seconds in a debug build.
fn big_file() -> String {
    (0..1_000_000)
        .map(|i| format!("{{\"instruction\": \"Restart question {i}?\", \"output\": \"Restart answer {i}, at length.\"}}\n"))
        .collect()
}

/// Uploads `text` and asks for its validation with `seed`; the dataset's id.
async fn validating(base: &str, key: &str, text: &str, seed: u64) -> String {
    let id = end2end::uploaded_dataset(base, key, "big", text).await;
    let auth = format!("Bearer {key}");
    let headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    let request = format!(r#"{{"task_type": "instruct", "seed": {seed}}}"#);
    let (status, _) = testkit::http::request_with(
        "POST",
        &format!("{base}/api/v1/datasets/{id}/validation"),
        &headers,
        request.as_bytes(),
    )
    .await;
    assert_eq!(status, 202);
    id
}

#[tokio::test]
async fn a_server_stopped_mid_validation_releases_the_job_and_the_next_server_takes_it_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_arg = data.to_string_lossy().to_string();
    let key = customer_key(&["--data-dir", &data_arg], "stop@example.org");
    // A lease of ten minutes: a job the stopped server left claimed would wait that long.
    let limits = [
        ("CRUCIBLE_MIN_DATASET_ROWS", "20"),
        ("CRUCIBLE_JOB_LEASE_MS", "600000"),
    ];
    let port = end2end::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = start(&data, port, &[], &limits);
    end2end::listening(port).await;
    let id = validating(&base, &key, &big_file(), 7).await;
    let url = format!("{base}/api/v1/datasets/{id}");
    wait_until("validation is under way", 60, async || {
        let d = get_json(&url, &key).await.unwrap();
        assert_eq!(
            d["state"], "validating",
            "validation finished before the server could be stopped"
        );
        d["validated_bytes"].as_i64().unwrap() > 0
    })
    .await;

    // SIGTERM, as a deployment stops a server: it stops its workers and exits.
    let stopped = std::process::Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let exited = tokio::task::spawn_blocking(move || {
        let status = server.0.wait();
        (server, status)
    });
    let (server, status) = tokio::time::timeout(std::time::Duration::from_secs(60), exited)
        .await
        .expect("the server exits after SIGTERM")
        .unwrap();
    assert!(status.unwrap().success());
    drop(server);
    let db = domain::db::Database::connect(&domain::db::DatabaseUrl::sqlite_file(
        &data.join("crucible.db"),
    ))
    .await
    .unwrap();
    let job: (String, i64, Option<String>) = sqlx::query_as(
        "SELECT state, attempts, claim_token FROM jobs WHERE kind = 'validate_dataset' AND subject_id = $1",
    )
    .bind(&id)
    .fetch_one(db.pool())
    .await
    .unwrap();
    assert_eq!(
        job,
        ("queued".to_string(), 0, None),
        "released, its attempt not counted"
    );
    db.pool().close().await;

    let _server = start(&data, port, &[], &limits);
    end2end::listening(port).await;
    wait_until(
        "the next server finishes the validation, well within the lease",
        120,
        async || {
            get_json(&url, &key)
                .await
                .is_some_and(|d| d["state"] == "ready")
        },
    )
    .await;
}
