//! The whole loop on this machine: the embedded server, the reference base model, three reference
//! miners with different recipes, and one task of each text type (instruct, chat, dpo, grpo). Every task
//! ends in success; its winner is the submission with the lowest held-out loss; the customer downloads
//! the winning model and its SHA-256 is the one the winner submitted. Then one chat task on a
//! Qwen2-layout model, with its chat template, won by a full checkpoint or a LoRA adapter.

use std::time::{Duration, Instant};

use end2end::reference::{Miners, THREE_RECIPES, make_base_models, make_family_models};
use end2end::{competition_server, ended_task, get_json, post_json, ready_dataset_of};
use serde_json::json;
use sha2::{Digest, Sha256};

/// 300 rows of `task_type`, with columns the server's mapping suggestion recognises.
fn rows(task_type: &str) -> String {
    let colours = ["red", "green", "blue", "yellow", "purple", "orange"];
    (0..300)
        .map(|i| {
            let colour = colours[i % colours.len()];
            let row = match task_type {
                "instruct" => json!({"instruction": format!("Name colour number {i}."), "output": format!("Colour {i} is {colour}.")}),
                "chat" => json!({"messages": [
                    {"role": "user", "content": format!("Which colour is number {i}?")},
                    {"role": "assistant", "content": format!("Number {i} is {colour}.")}
                ]}),
                "dpo" => json!({"prompt": format!("Which colour is number {i}?"), "chosen": format!("It is {colour}."), "rejected": format!("I do not know about number {i}.")}),
                _ => json!({"prompt": format!("Describe colour number {i} in a sentence.")}),
            };
            row.to_string() + "\n"
        })
        .collect()
}

/// Downloads the winning model of task `id` and checks it is the artifact `winner` submitted.
async fn download_winner(base: &str, key: &str, id: &str, winner: &serde_json::Value) -> Vec<u8> {
    let (status, model) = testkit::http::request_with(
        "GET",
        &format!("{base}/api/v1/tasks/{id}/result"),
        &[("Authorization", &format!("Bearer {key}"))],
        b"",
    )
    .await;
    assert_eq!(status, 200, "the winner downloads");
    let sha = hex::encode(Sha256::digest(&model));
    assert_eq!(
        Some(sha.as_str()),
        winner["sha256"].as_str(),
        "the download is the winner's artifact"
    );
    model
}

#[tokio::test(flavor = "multi_thread")]
async fn three_reference_miners_compete_on_each_text_task_type_and_the_best_model_is_delivered() {
    let started = Instant::now();
    let work = tempfile::tempdir().unwrap();
    let base_models = work.path().join("base-models");
    make_base_models(&base_models);
    // An hour of a task's window lasts 25 s.
    let (_server, base, key) = competition_server(work.path(), &base_models, "25000", "3-3").await;

    let mut miners = Miners::default();
    for (i, recipe) in THREE_RECIPES.into_iter().enumerate() {
        miners.start(&base, &base_models, work.path(), i, recipe, 4);
    }

    let mut tasks = Vec::new();
    for task_type in ["instruct", "chat", "dpo", "grpo"] {
        let dataset = ready_dataset_of(&base, &base, &key, task_type, &rows(task_type)).await;
        let request = json!({"dataset_id": dataset, "model_id": "crucible/reference-tiny", "hours_to_complete": 1});
        let (status, answer) = post_json(&format!("{base}/api/v1/tasks"), &key, &request).await;
        assert_eq!(status, 201, "{task_type}: {answer}");
        tasks.push((task_type, answer["id"].as_str().unwrap().to_string()));
    }

    for (task_type, id) in &tasks {
        let task = ended_task(&base, &key, id, 480).await;
        let events = get_json(&format!("{base}/api/v1/tasks/{id}/events"), &key)
            .await
            .unwrap();
        assert_eq!(task["state"], "success", "{task_type}: {events}");

        let submissions = get_json(&format!("{base}/api/v1/tasks/{id}/submissions"), &key)
            .await
            .unwrap();
        let list = submissions["submissions"]
            .as_array()
            .unwrap_or_else(|| panic!("{submissions}"));
        assert_eq!(
            list.len(),
            3,
            "{task_type}: every miner submitted: {submissions}"
        );
        let best = list
            .iter()
            .filter_map(|s| s["loss"].as_f64())
            .fold(f64::INFINITY, f64::min);
        let winner = list
            .iter()
            .find(|s| s["rank"] == 1)
            .unwrap_or_else(|| panic!("{submissions}"));
        assert_eq!(
            winner["loss"].as_f64().unwrap(),
            best,
            "{task_type}: the lowest held-out loss wins"
        );
        assert_eq!(winner["points"], 3, "{task_type}");

        download_winner(&base, &key, id, winner).await;
        println!(
            "{task_type}: winner loss {best:.4} of {:?}",
            list.iter().map(|s| s["loss"].as_f64()).collect::<Vec<_>>()
        );
    }
    let took = started.elapsed();
    println!("four tasks, three miners: {:.0} s", took.as_secs_f64());
    assert!(
        took < Duration::from_secs(600),
        "the loop ran in under 10 minutes"
    );
}

/// The same loop on a real architecture: `crucible/qwen2-tiny` (Qwen2's layout and chat template).
/// The reference miners fine-tune it fully or with LoRA; the LoRA miner submits a PEFT adapter, scored
/// as its merged weights. The task measures the base model's own loss, and the winner improves on it.
#[tokio::test(flavor = "multi_thread")]
async fn three_reference_miners_compete_on_a_qwen2_layout_model_with_its_chat_template() {
    let work = tempfile::tempdir().unwrap();
    let base_models = work.path().join("base-models");
    make_family_models(&base_models, "qwen2");
    let (_server, base, key) = competition_server(work.path(), &base_models, "40000", "3-3").await;
    let models = get_json(&format!("{base}/api/v1/models"), &key)
        .await
        .unwrap();
    let judged = |id: &str| {
        models["models"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == id)
            .map(|m| (m["evaluable"].clone(), m["not_evaluable_because"].clone()))
            .unwrap()
    };
    assert_eq!(judged("crucible/qwen2-tiny").0, true, "{models}");
    // Its files are not on this deployment: the catalogue says so, and a task on it is refused.
    let (evaluable, why) = judged("crucible/llama-tiny");
    assert_eq!(evaluable, false);
    assert!(why.as_str().unwrap().contains("base model files"), "{why}");

    let mut miners = Miners::default();
    for (i, recipe) in THREE_RECIPES.into_iter().enumerate() {
        miners.start(&base, &base_models, work.path(), i, recipe, 1);
    }
    let dataset = ready_dataset_of(&base, &base, &key, "chat", &rows("chat")).await;
    let refused =
        json!({"dataset_id": dataset, "model_id": "crucible/llama-tiny", "hours_to_complete": 1});
    let (status, answer) = post_json(&format!("{base}/api/v1/tasks"), &key, &refused).await;
    assert_eq!(status, 422, "{answer}");
    let request =
        json!({"dataset_id": dataset, "model_id": "crucible/qwen2-tiny", "hours_to_complete": 1});
    let (status, answer) = post_json(&format!("{base}/api/v1/tasks"), &key, &request).await;
    assert_eq!(status, 201, "{answer}");
    let id = answer["id"].as_str().unwrap().to_string();

    let task = ended_task(&base, &key, &id, 480).await;
    let events = get_json(&format!("{base}/api/v1/tasks/{id}/events"), &key)
        .await
        .unwrap();
    assert_eq!(task["state"], "success", "{events}");
    let submissions = get_json(&format!("{base}/api/v1/tasks/{id}/submissions"), &key)
        .await
        .unwrap();
    let list = submissions["submissions"]
        .as_array()
        .unwrap_or_else(|| panic!("{submissions}"));
    assert_eq!(list.len(), 3, "every miner submitted: {submissions}");
    assert!(
        list.iter().all(|s| s["loss"].is_number()),
        "every model was scored, the adapter too: {submissions}"
    );
    let winner = list
        .iter()
        .find(|s| s["rank"] == 1)
        .unwrap_or_else(|| panic!("{submissions}"));
    let best = list
        .iter()
        .filter_map(|s| s["loss"].as_f64())
        .fold(f64::INFINITY, f64::min);
    assert_eq!(
        winner["loss"].as_f64().unwrap(),
        best,
        "the lowest held-out loss wins"
    );
    let base_loss = submissions["base_loss"]
        .as_f64()
        .unwrap_or_else(|| panic!("{submissions}"));
    assert!(
        winner["improvement"].as_f64().unwrap() > 0.0,
        "the winner beats the base model ({base_loss}): {submissions}"
    );

    let model = download_winner(&base, &key, &id, winner).await;
    let mut archive = tar::Archive::new(model.as_slice());
    let names: Vec<String> = archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert!(
        names
            .iter()
            .any(|n| n.ends_with("adapter_model.safetensors") || n.ends_with("model.safetensors")),
        "{names:?}"
    );
    println!(
        "qwen2-tiny: base {base_loss:.4}, submissions {:?}, winner's files {names:?}",
        list.iter().map(|s| s["loss"].as_f64()).collect::<Vec<_>>()
    );
}
