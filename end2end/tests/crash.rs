//! Durability of tasks: 20 tasks and 30 simulated miners run through their windows (an "hour" is 20 s
//! here) while the server is SIGKILLed and restarted at random moments, 5 times. Every task must end in
//! the state an undisturbed run gives it, and every submission the server gave a receipt for must be
//! stored with the hash on the receipt: nothing lost, nothing done twice.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use end2end::{
    Server, create_task, customer_key, free_port, get_json, listening, miner_keys, ready_dataset,
    signed, start,
};
use serde_json::json;

const TASKS: usize = 20;
const MINERS: u8 = 30;
/// States a task of this test ends in (evaluation comes after `preevaluation`).
const ENDS: [&str; 3] = ["preevaluation", "failure", "failure_finding_nodes"];

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

struct Outcome {
    states: Vec<String>,
    /// (task, miner hotkey) → SHA-256, for every submission that got a receipt.
    receipts: BTreeMap<(String, String), String>,
    /// The same, as stored once the run is over.
    stored: BTreeMap<(String, String), String>,
}

fn serve(data: &Path, port: u16) -> Server {
    let env = [
        ("CRUCIBLE_MIN_DATASET_ROWS", "20"),
        ("CRUCIBLE_JOB_LEASE_MS", "1000"),
        // Offers stay open long enough for 30 miners to answer around a restart.
        ("CRUCIBLE_OFFER_TTL_SECS", "10"),
        ("CRUCIBLE_OFFER_RETRY_SECS", "1"),
        ("CRUCIBLE_OFFER_RETRIES", "3"),
        ("CRUCIBLE_HOUR_MS", "20000"),
    ];
    start(data, port, &[], &env)
}

/// Runs the scenario; with `kills`, SIGKILLs and restarts the server that many times along the way.
async fn run(kills: usize) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_arg = data.to_string_lossy().to_string();
    let key = customer_key(&["--data-dir", &data_arg], "c@example.org");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = Some(serve(&data, port));
    listening(port).await;

    let miners: Vec<schnorrkel::Keypair> = (1..=MINERS).map(miner_keys).collect();
    // Models up to 2 billion parameters: the 7-billion tasks find no miners.
    let declaration =
        json!({"task_types": ["instruct"], "max_parameters": 2_000_000_000u64}).to_string();
    for keys in &miners {
        let (status, _) = signed(
            "POST",
            &format!("{base}/api/v1/miner/register"),
            keys,
            declaration.as_bytes(),
            &[],
        )
        .await
        .unwrap();
        assert_eq!(status, 200);
    }
    let dataset = ready_dataset(&base, &base, &key, 60).await;
    let mut tasks = Vec::new();
    for i in 0..TASKS {
        let model = if i >= TASKS - 2 {
            "Qwen/Qwen2.5-7B-Instruct"
        } else {
            "Qwen/Qwen2.5-0.5B-Instruct"
        };
        tasks.push(create_task(&base, &key, &dataset, model).await);
    }

    // Miners accept every offer and submit to every third task but one (those with no submission fail).
    let submits = |task: &str| {
        tasks
            .iter()
            .position(|t| t == task)
            .is_some_and(|i| i % 3 != 0)
    };
    let mut seen: BTreeSet<(usize, String)> = BTreeSet::new();
    let mut receipts = BTreeMap::new();
    let mut kills_left = kills;
    let mut next_kill = Instant::now() + Duration::from_millis(1_500);
    let started = Instant::now();
    loop {
        if kills_left > 0 && Instant::now() >= next_kill {
            let mut dead = server.take().unwrap();
            dead.0.kill().unwrap();
            dead.0.wait().unwrap();
            drop(dead);
            kills_left -= 1;
            tokio::time::sleep(Duration::from_millis(rand::random_range(0..500))).await;
            server = Some(serve(&data, port));
            listening(port).await;
            next_kill = Instant::now() + Duration::from_millis(rand::random_range(1_500..4_000));
        }
        for (m, keys) in miners.iter().enumerate() {
            if let Some((200, answer)) = signed(
                "GET",
                &format!("{base}/api/v1/miner/offers"),
                keys,
                b"",
                &[],
            )
            .await
            {
                for offer in answer["offers"].as_array().cloned().unwrap_or_default() {
                    let path = format!(
                        "{base}/api/v1/miner/offers/{}/accept",
                        offer["id"].as_str().unwrap()
                    );
                    signed("POST", &path, keys, b"", &[]).await;
                    seen.insert((m, offer["task_id"].as_str().unwrap().to_string()));
                }
            }
        }
        for (m, task) in seen.clone() {
            let hotkey =
                domain::miners::Hotkey::from_public_key(miners[m].public.to_bytes()).to_string();
            if !submits(&task) || receipts.contains_key(&(task.clone(), hotkey.clone())) {
                continue;
            }
            let artifact = format!("model of miner {m} for task {task}").into_bytes();
            let declared = sha256(&artifact);
            let url = format!("{base}/api/v1/miner/tasks/{task}/submission");
            if let Some((200, receipt)) = signed(
                "PUT",
                &url,
                &miners[m],
                &artifact,
                &[("X-Artifact-SHA256", &declared)],
            )
            .await
            {
                receipts.insert(
                    (task, hotkey),
                    receipt["sha256"].as_str().unwrap().to_string(),
                );
            }
        }
        let mut ended = 0;
        for task in &tasks {
            if let Some(t) = get_json(&format!("{base}/api/v1/tasks/{task}"), &key).await
                && ENDS.contains(&t["state"].as_str().unwrap_or(""))
            {
                ended += 1;
            }
        }
        if ended == tasks.len() && kills_left == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "the tasks did not all end in 4 minutes"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let mut states = Vec::new();
    for task in &tasks {
        states.push(
            get_json(&format!("{base}/api/v1/tasks/{task}"), &key)
                .await
                .unwrap()["state"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    drop(server);
    let stored = stored_submissions(&data).await;
    Outcome {
        states,
        receipts,
        stored,
    }
}

/// (task, miner hotkey) → the SHA-256 each submission records, where the artifact it names holds
/// exactly that (or what is wrong instead).
async fn stored_submissions(data: &Path) -> BTreeMap<(String, String), String> {
    use sha2::Digest;
    use sqlx::Connection;
    let db = data.join("crucible.db");
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=ro", db.display()))
        .await
        .unwrap();
    let rows: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT s.task_id, m.hotkey, s.sha256, s.object_key FROM submissions s \
         JOIN miners m ON m.id = s.miner_id",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(task, hotkey, sha, key)| {
            let stored = match std::fs::read(data.join("objects").join(&key)) {
                Ok(bytes) if hex::encode(sha2::Sha256::digest(&bytes)) == sha => sha,
                Ok(_) => format!("{key} does not hold the recorded {sha}"),
                Err(err) => format!("{key} is missing: {err}"),
            };
            ((task, hotkey), stored)
        })
        .collect()
}

#[tokio::test]
async fn tasks_killed_five_times_end_as_undisturbed_ones_with_every_submission() {
    let calm = run(0).await;
    let killed = run(5).await;
    assert_eq!(
        killed.states, calm.states,
        "every task ends in the same state"
    );
    assert_eq!(
        calm.states.iter().filter(|s| *s == "preevaluation").count(),
        12
    );
    assert_eq!(
        calm.states
            .iter()
            .filter(|s| *s == "failure_finding_nodes")
            .count(),
        2
    );
    for outcome in [&calm, &killed] {
        assert!(!outcome.receipts.is_empty());
        for (submission, sha) in &outcome.receipts {
            assert_eq!(
                outcome.stored.get(submission),
                Some(sha),
                "the submission {submission:?} with a receipt is stored, its artifact intact"
            );
        }
    }
}
