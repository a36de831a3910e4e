//! One accepted task: wait for its window, fetch the training rows, fine-tune, pack the model as a tar
//! of its Hugging Face layout, and submit it with its SHA-256 before the deadline.

use std::path::Path;
use std::time::{Duration, Instant};

use lm::recipe::fine_tune;
use lm::train::Recipe;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::client::Api;
use crate::{Args, Error, Offer};

#[derive(Deserialize)]
struct MinerTask {
    state: String,
    deadline_at: Option<i64>,
}

#[derive(Deserialize)]
struct TrainingData {
    files: Vec<TrainingFile>,
}

#[derive(Deserialize)]
struct TrainingFile {
    name: String,
    url: String,
}

#[derive(Deserialize)]
struct Receipt {
    sha256: String,
    size_bytes: u64,
    received_at: i64,
}

/// Works on `offer`'s task in `dir`; a line saying what was submitted.
pub async fn compete(api: &Api, args: &Args, offer: &Offer, dir: &Path) -> Result<String, Error> {
    let deadline_ms = window(api, &offer.task_id).await?;
    let data: TrainingData = api
        .call(
            "GET",
            &format!("/api/v1/miner/tasks/{}/training-data", offer.task_id),
            Vec::new(),
            &[],
        )
        .await?;
    let file = data
        .files
        .iter()
        .find(|f| f.name == "train.jsonl")
        .ok_or_else(|| Error::Server("the training data has no train.jsonl".into()))?;
    let rows: Vec<Value> = String::from_utf8_lossy(&api.download(&file.url).await?)
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();

    // Leave a fifth of what is left (at least two seconds) for packing and uploading.
    let left_ms = deadline_ms - domain::clock::now_ms();
    let budget = Duration::from_millis((left_ms - (left_ms / 5).max(2_000)).max(0) as u64);
    let base = args.base_models.join(&offer.model_id);
    let out = dir.join("model");
    let (recipe, method) = (recipe(args, budget), args.method()?);
    let (task_type, task_id) = (offer.task_type.clone(), offer.task_id.clone());
    let trained = tokio::task::spawn_blocking({
        let out = out.clone();
        move || fine_tune(&base, &out, &rows, &task_type, (&recipe, method), &task_id)
    })
    .await
    .map_err(|err| Error::Io(format!("training stopped: {err}")))??;

    let tar = pack(&out)?;
    let sha = hex::encode(Sha256::digest(&tar));
    let receipt: Receipt = api
        .call(
            "PUT",
            &format!("/api/v1/miner/tasks/{}/submission", offer.task_id),
            tar,
            &[
                ("x-artifact-sha256", &sha),
                ("content-type", "application/x-tar"),
            ],
        )
        .await?;
    Ok(format!(
        "task {}: submitted {} bytes, SHA-256 {}…, received at {} ({} ms before the deadline); {trained}",
        offer.task_id,
        receipt.size_bytes,
        &receipt.sha256[..12],
        receipt.received_at,
        deadline_ms - receipt.received_at
    ))
}

/// Waits until the task's window is open; its deadline (server time, ms).
async fn window(api: &Api, task_id: &str) -> Result<i64, Error> {
    loop {
        let task: MinerTask = api
            .call(
                "GET",
                &format!("/api/v1/miner/tasks/{task_id}"),
                Vec::new(),
                &[],
            )
            .await?;
        match (task.state.as_str(), task.deadline_at) {
            ("training", Some(deadline)) => return Ok(deadline),
            ("looking_for_nodes" | "delayed" | "ready", _) => {
                tokio::time::sleep(Duration::from_millis(500)).await
            }
            (state, _) => {
                return Err(Error::Server(format!(
                    "the task is {state}; its window will not open"
                )));
            }
        }
    }
}

fn recipe(args: &Args, budget: Duration) -> Recipe {
    args.recipe.recipe(Instant::now() + budget)
}

/// The model directory as a tar of its files.
fn pack(dir: &Path) -> Result<Vec<u8>, Error> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .map_err(|err| Error::Io(format!("{}: {err}", dir.display())))?
        .filter_map(|entry| entry.ok().map(|e| e.file_name()))
        .collect();
    names.sort();
    for name in names {
        builder
            .append_path_with_name(dir.join(&name), &name)
            .map_err(|err| Error::Io(format!("packing {}: {err}", name.to_string_lossy())))?;
    }
    builder
        .into_inner()
        .map_err(|err| Error::Io(format!("packing the model: {err}")))
}
