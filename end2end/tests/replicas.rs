//! Two `crucible serve` processes on one PostgreSQL database share the work: tasks created on either
//! are prepared, offered and started exactly once — one offer per miner and task, one event per move —
//! whichever replica claims each step.

use std::collections::BTreeMap;

use end2end::{customer_key, free_port, get_json, listening, miner_keys, start, wait_until};
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

    let auth = format!("Bearer {key}");
    let mut rows = String::new();
    for i in 0..60 {
        rows.push_str(&json!({"instruction": format!("Replica question {i}?"), "output": format!("Replica answer {i}.")}).to_string());
        rows.push('\n');
    }
    let (status, body) = testkit::http::request_with(
        "POST",
        &format!("{}/api/v1/datasets?name=r", base(0)),
        &[("Authorization", &auth)],
        rows.as_bytes(),
    )
    .await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let dataset = serde_json::from_slice::<Value>(&body).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let json_headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    let (status, _) = testkit::http::request_with(
        "POST",
        &format!("{}/api/v1/datasets/{dataset}/validation", base(1)),
        &json_headers,
        br#"{"task_type": "instruct"}"#,
    )
    .await;
    assert_eq!(status, 202);
    wait_until("the dataset is ready", 60, async || {
        get_json(&format!("{}/api/v1/datasets/{dataset}", base(0)), &key)
            .await
            .is_some_and(|d| d["state"] == "ready")
    })
    .await;

    let mut tasks = Vec::new();
    for i in 0..6 {
        let request = json!({"dataset_id": dataset, "model_id": "Qwen/Qwen2.5-0.5B-Instruct", "hours_to_complete": 1}).to_string();
        let (status, body) = testkit::http::request_with(
            "POST",
            &format!("{}/api/v1/tasks", base(i)),
            &json_headers,
            request.as_bytes(),
        )
        .await;
        assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
        tasks.push(
            serde_json::from_slice::<Value>(&body).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
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
