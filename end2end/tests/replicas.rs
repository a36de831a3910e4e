//! Two `crucible serve` processes on one PostgreSQL database share the work: tasks created on either
//! are prepared, offered and started exactly once — one offer per miner and task, one event per move —
//! whichever replica claims each step.

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
