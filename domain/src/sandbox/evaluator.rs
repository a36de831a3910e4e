//! The evaluator program and how one model directory is scored by it (docs/evaluator.md): the
//! contract's arguments, the runner under the evaluation's limits, and what its ending means. An
//! evaluator that exits with `REFUSED_EXIT` says the submission itself cannot be scored (its reason in
//! `refusal.json`); any other failure to produce a finite loss is the platform's.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{Fault, Inputs};

/// The exit status by which an evaluator refuses the submission itself (wrong tokenizer, unreadable
/// weights, a shape that does not fit the base model), with `{"reason": …}` in `refusal.json`.
pub const REFUSED_EXIT: i64 = 3;

/// The evaluator program and where it runs.
#[derive(Clone)]
pub struct Evaluator {
    pub runner: Arc<dyn runner::Runner>,
    /// The program and its own first arguments (for Docker: the arguments after the image's entry
    /// point); the contract's arguments follow.
    pub command: Vec<String>,
    /// Whether the runner is a container, whose inputs are mounted at the contract's paths.
    pub in_container: bool,
    pub limits: runner::Limits,
    /// Base models in the Hugging Face layout, one directory per model id
    /// (`Qwen/Qwen2.5-0.5B-Instruct` is `DIR/Qwen/Qwen2.5-0.5B-Instruct`).
    pub base_models: PathBuf,
    /// The model families (`model_type`s) the evaluator reads, when it says (`crucible-eval
    /// --families`); `None` for an evaluator that does not, whose families are taken on trust.
    pub families: Option<Vec<String>>,
}

impl std::fmt::Debug for Evaluator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Evaluator")
            .field("command", &self.command)
            .field("in_container", &self.in_container)
            .field("limits", &self.limits)
            .field("base_models", &self.base_models)
            .field("families", &self.families)
            .finish()
    }
}

impl Evaluator {
    /// Whether this evaluator can score tasks on the base model `model_id`: its files are on this
    /// deployment, and (where the evaluator says which families it reads) it reads their family and
    /// they have weights. The reason, for customers, names no path.
    pub fn can_score(&self, model_id: &str) -> Result<(), String> {
        let dir = self.base_models.join(model_id);
        if model_id
            .split('/')
            .any(|part| part.is_empty() || part == "." || part == "..")
            || !dir.is_dir()
        {
            return Err(format!(
                "this deployment does not have {model_id}'s base model files, so its evaluator cannot \
                 score tasks on it"
            ));
        }
        let Some(families) = &self.families else {
            return Ok(());
        };
        let config = std::fs::read_to_string(dir.join("config.json"))
            .ok()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok());
        let Some(config) = config else {
            return Err(format!(
                "{model_id}'s base model on this deployment has no readable config.json"
            ));
        };
        let family = config["model_type"].as_str().unwrap_or("gpt2");
        if !families.iter().any(|f| f == family) {
            return Err(format!(
                "this deployment's evaluator does not read the {family} family (it reads {})",
                families.join(", ")
            ));
        }
        if !dir.join("model.safetensors").is_file()
            && !dir.join("model.safetensors.index.json").is_file()
        {
            return Err(format!(
                "{model_id}'s base model on this deployment has no weights"
            ));
        }
        Ok(())
    }
}

/// A model's score and the evaluator's log, or whose fault it is that there is none and the log.
pub type Scoring = Result<(Score, String), (Fault, String)>;

/// What the evaluator measured: the loss, and each held-out row's own (`examples` in metrics.json, as
/// JSON: `[{"row", "loss", "tokens"}]`) when it gave them.
#[derive(Clone, Debug, PartialEq)]
pub struct Score {
    pub loss: f64,
    pub examples: Option<String>,
}

/// One held-out row's loss as the evaluator reports it.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Example {
    row: u64,
    loss: f64,
    tokens: u64,
}

/// Runs the evaluator on a model directory (Hugging Face layout) with `output` as its output
/// directory. `work` names what is scored, the same for every attempt at it (see
/// `runner::RunSpec::work`): in a container, an attempt removes what an earlier one left running.
pub async fn score_model(
    evaluator: &Evaluator,
    inputs: &Inputs,
    model: &Path,
    output: &Path,
    work: String,
) -> Scoring {
    let no_log = |fault: Fault| (fault, String::new());
    let host = [
        ("--spec", inputs.spec.clone(), "/task/spec.json"),
        (
            "--base-model",
            inputs.base_model().to_path_buf(),
            "/base-model",
        ),
        ("--submission", model.to_path_buf(), "/submission"),
        ("--test", inputs.test.clone(), "/test/test.jsonl"),
    ];
    let mut command = evaluator.command.clone();
    let mut mounts = Vec::new();
    for (flag, path, inside) in &host {
        command.push(flag.to_string());
        if evaluator.in_container {
            command.push(inside.to_string());
            mounts.push((path.clone(), inside.to_string()));
        } else {
            command.push(path.display().to_string());
        }
    }
    command.push("--output".into());
    command.push(if evaluator.in_container {
        runner::OUTPUT_MOUNT.to_string()
    } else {
        output.display().to_string()
    });
    let spec = runner::RunSpec {
        command,
        inputs: mounts,
        output_dir: output.to_path_buf(),
        env: Vec::new(),
        limits: evaluator.limits,
        work: Some(work),
    };
    let outcome = evaluator.runner.run(&spec).await.map_err(|err| {
        no_log(Fault::Platform(format!(
            "the evaluator could not run: {err}"
        )))
    })?;
    let log = outcome.logs;
    match outcome.ending {
        runner::Ending::Exited(0) => {}
        runner::Ending::Exited(REFUSED_EXIT) => {
            let why = std::fs::read_to_string(output.join("refusal.json"))
                .ok()
                .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
                .and_then(|refusal| refusal["reason"].as_str().map(str::to_string))
                .unwrap_or_else(|| "the evaluator refused the model without saying why".into());
            return Err((Fault::Submission(inputs.redact(why)), log));
        }
        ending => {
            let why = format!("the evaluator ended with {ending:?}");
            return Err((Fault::Platform(why), log));
        }
    }
    let Ok(metrics) = std::fs::read_to_string(output.join("metrics.json")) else {
        let why = "the evaluator succeeded but wrote no metrics.json".to_string();
        return Err((Fault::Platform(why), log));
    };
    let metrics = serde_json::from_str::<serde_json::Value>(&metrics).ok();
    let loss = metrics.as_ref().and_then(|m| m["loss"].as_f64());
    // Per-row losses are kept only when every entry reads and is finite.
    let examples = metrics
        .and_then(|mut m| serde_json::from_value::<Vec<Example>>(m["examples"].take()).ok())
        .filter(|examples| !examples.is_empty() && examples.iter().all(|e| e.loss.is_finite()))
        .map(|examples| serde_json::to_string(&examples).expect("examples serialise"));
    match loss {
        Some(loss) if loss.is_finite() => Ok((Score { loss, examples }, log)),
        // The evaluator's own output is malformed: the platform's fault, and never shown as it is.
        _ => Err((
            Fault::Platform("the evaluator's metrics.json has no finite loss".into()),
            log,
        )),
    }
}
