//! Evaluating a task's submissions once its deadline has passed: each submission goes through the
//! configured evaluator (the contract in `docs/evaluator.md`) on a runner, with up to four attempts;
//! then the task is scored and ends in `success`, or in `failure` when no submission could be
//! evaluated. Attempts are recorded as they end, so a job cut short carries on where it stood.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::StreamExt;
use tokio::io::AsyncWriteExt;

use crate::Platform;
use crate::accounts::User;
use crate::clock::now_ms;
use crate::datasets::{self, TaskType};
use crate::db::{self, evaluations::EvaluationRow, submissions::SubmissionRow};
use crate::error::{Error, Result};
use crate::jobs::{self, JobKind};
use crate::scoring::{self, Entry, Evaluation};
use crate::tasks::{self, Task, TaskState, window};

/// Attempts at one submission before its failure counts (Gradients: 4).
pub const MAX_ATTEMPTS: i64 = 4;

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
}

impl std::fmt::Debug for Evaluator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Evaluator")
            .field("command", &self.command)
            .field("in_container", &self.in_container)
            .field("limits", &self.limits)
            .field("base_models", &self.base_models)
            .finish()
    }
}

/// The job: evaluates what is left of task `id`'s submissions, then scores the task.
pub async fn evaluate_task(platform: &Platform, id: &str) -> Result<()> {
    let Some(task) = tasks::get_any(&platform.db, id).await? else {
        return Ok(());
    };
    if !matches!(task.state, TaskState::Preevaluation | TaskState::Evaluating) {
        return Ok(());
    }
    let evaluator = platform.evaluator.as_ref().ok_or_else(|| {
        Error::Internal(
            "no evaluator is configured (crucible serve --evaluator …): the task waits in preevaluation"
                .into(),
        )
    })?;
    let submissions = db::submissions::for_task(platform.db.pool(), id).await?;
    if task.state == TaskState::Preevaluation {
        let reason = format!(
            "evaluating {} submissions on the held-out split",
            submissions.len()
        );
        tasks::transition(
            &platform.db,
            id,
            TaskState::Preevaluation,
            TaskState::Evaluating,
            &reason,
        )
        .await?;
    }
    let work =
        tempfile::tempdir().map_err(|err| Error::Internal(format!("a work directory: {err}")))?;
    let subject = Subject {
        id: &task.id,
        task_type: task.task_type,
        model_id: &task.model_id,
        dataset_id: &task.dataset_id,
    };
    let inputs = Inputs::prepare(platform, evaluator, &subject, work.path()).await?;
    let mut evaluations: HashMap<String, EvaluationRow> =
        db::evaluations::for_task(platform.db.pool(), id)
            .await?
            .into_iter()
            .map(|row| (row.submission_id.clone(), row))
            .collect();
    for submission in &submissions {
        let mut attempts = evaluations.get(&submission.id).map_or(0, |e| e.attempts);
        if evaluations
            .get(&submission.id)
            .is_some_and(|e| e.state != "pending")
        {
            continue;
        }
        while attempts < MAX_ATTEMPTS {
            attempts += 1;
            let result = attempt(
                platform,
                evaluator,
                &inputs,
                submission,
                attempts,
                work.path(),
            )
            .await;
            let (state, loss, error, log) = match result {
                Ok((loss, log)) => ("done", Some(loss), None, log),
                Err((why, log)) if attempts >= MAX_ATTEMPTS => ("failed", None, Some(why), log),
                Err((why, log)) => ("pending", None, Some(why), log),
            };
            let row = EvaluationRow {
                submission_id: submission.id.clone(),
                task_id: id.to_string(),
                attempts,
                state: state.into(),
                loss,
                error,
                log,
                updated_at: now_ms(),
            };
            db::evaluations::record(platform.db.pool(), &row).await?;
            let ended = state != "pending";
            evaluations.insert(submission.id.clone(), row);
            if ended {
                break;
            }
        }
    }
    score(platform, &task, &submissions, &evaluations).await
}

/// Has an ended task's submissions evaluated again, as an admin (once an evaluator is mended, say):
/// the task moves back to `evaluating` with the admin's reason among its events (the customer reads
/// it) and in the admins' log, its evaluations and scores are withdrawn and the evaluation job is
/// queued, all in one transaction. The new scores replace the old on the leaderboards.
pub async fn reevaluate(platform: &Platform, admin: &User, id: &str, reason: &str) -> Result<Task> {
    admin.require_admin("evaluate a task again")?;
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(Error::invalid(
            "reason",
            "say why the task is evaluated again; the customer reads it",
        ));
    }
    let db = &platform.db;
    let task = tasks::get_any(db, id)
        .await?
        .ok_or(Error::NotFound("task"))?;
    let conflict = |message: String| Error::Conflict {
        field: None,
        message,
    };
    if !task.state.can_be_reevaluated() {
        return Err(conflict(format!(
            "the task is {}: only a task that ended in success or failure can be evaluated again",
            task.state.as_str()
        )));
    }
    if db::submissions::for_task(db.pool(), id).await?.is_empty() {
        return Err(conflict(
            "the task has no submissions to evaluate".to_string(),
        ));
    }
    let why = format!("evaluated again at an admin's request: {reason}");
    let mut tx = db.pool().begin().await?;
    if !tasks::transition_in(&mut tx, id, task.state, TaskState::Evaluating, &why).await? {
        return Err(conflict(
            "the task changed meanwhile; look at it again".to_string(),
        ));
    }
    db::evaluations::delete_for_task(&mut *tx, id).await?;
    db::scores::delete_for_task(&mut *tx, id).await?;
    let job = JobKind::EvaluateTask.as_str();
    db::jobs::enqueue(&mut *tx, job, id, jobs::MAX_ATTEMPTS, now_ms()).await?;
    crate::admin_log::record(&mut *tx, &admin.email, "reevaluate_task", id, reason).await?;
    tx.commit().await?;
    platform.leaderboards.invalidate();
    tasks::get_any(db, id).await?.ok_or(Error::NotFound("task"))
}

/// Scores the task from its evaluations and ends it.
async fn score(
    platform: &Platform,
    task: &Task,
    submissions: &[SubmissionRow],
    evaluations: &HashMap<String, EvaluationRow>,
) -> Result<()> {
    let entries: Vec<Entry> = submissions
        .iter()
        .map(|s| {
            let e = evaluations.get(&s.id);
            let evaluation = match e.and_then(|e| e.loss.filter(|_| e.state == "done")) {
                Some(loss) => Evaluation::Loss(loss),
                None => Evaluation::Failed(
                    e.and_then(|e| e.error.clone())
                        .unwrap_or_else(|| "not evaluated".into()),
                ),
            };
            Entry {
                miner: s.miner_id.clone(),
                artifact_sha256: s.sha256.clone(),
                received_at: s.received_at,
                evaluation,
            }
        })
        .collect();
    let scores = scoring::record(&platform.db, &task.id, &entries, now_ms()).await?;
    platform.leaderboards.invalidate();
    let best = entries
        .iter()
        .zip(&scores)
        .find(|(_, score)| score.points == scoring::WIN);
    let (to, reason) = match best {
        Some((entry, _)) => (
            TaskState::Success,
            format!(
                "{} submissions scored; the best held-out loss is {:.4} (artifact {}…)",
                scores.len(),
                match entry.evaluation {
                    Evaluation::Loss(loss) => loss,
                    Evaluation::Failed(_) => f64::NAN,
                },
                &entry.artifact_sha256[..12.min(entry.artifact_sha256.len())]
            ),
        ),
        None => (
            TaskState::Failure,
            "no submission could be evaluated; see each submission's reason".to_string(),
        ),
    };
    tasks::transition(&platform.db, &task.id, TaskState::Evaluating, to, &reason).await?;
    Ok(())
}

/// What a model is scored on: a task's (or a tournament task's) id, type, base model and dataset.
pub struct Subject<'a> {
    pub id: &'a str,
    pub task_type: TaskType,
    pub model_id: &'a str,
    pub dataset_id: &'a str,
}

/// What every evaluation on a subject shares: its spec, the held-out split and the base model.
pub struct Inputs {
    spec: PathBuf,
    test: PathBuf,
    base_model: PathBuf,
}

impl Inputs {
    /// Writes the subject's spec and held-out split into `dir`.
    pub async fn prepare(
        platform: &Platform,
        evaluator: &Evaluator,
        subject: &Subject<'_>,
        dir: &Path,
    ) -> Result<Inputs> {
        let spec = dir.join("spec.json");
        let body = serde_json::json!({
            "task_id": subject.id,
            "task_type": subject.task_type.as_str(),
            "model_id": subject.model_id,
            "metric": "loss",
            "dpo_beta": 0.1,
        });
        tokio::fs::write(&spec, body.to_string())
            .await
            .map_err(io)?;
        let test = dir.join("test.jsonl");
        let key = datasets::dataset::test_key(subject.dataset_id);
        save(platform.store.get(&key).await?, &test).await?;
        let base_model = evaluator.base_models.join(subject.model_id);
        if !base_model.is_dir() {
            return Err(Error::Internal(format!(
                "the base model {} is not at {}",
                subject.model_id,
                base_model.display()
            )));
        }
        Ok(Inputs {
            spec,
            test,
            base_model,
        })
    }

    /// The base model's directory, which trainers start from.
    pub fn base_model(&self) -> &Path {
        &self.base_model
    }
}

fn io(err: std::io::Error) -> Error {
    Error::Internal(format!("evaluation files: {err}"))
}

async fn save(mut stream: crate::storage::ByteStream, to: &Path) -> Result<()> {
    let mut file = tokio::fs::File::create(to).await.map_err(io)?;
    while let Some(chunk) = stream.next().await {
        file.write_all(&chunk.map_err(io)?).await.map_err(io)?;
    }
    file.flush().await.map_err(io)?;
    Ok(())
}

/// Unpacks the artifact (a tar) into `dir`, refusing links, special files and paths outside it.
fn unpack(tar: &Path, dir: &Path) -> std::result::Result<(), String> {
    let file = std::fs::File::open(tar).map_err(|err| err.to_string())?;
    let mut archive = tar::Archive::new(file);
    let entries = archive
        .entries()
        .map_err(|err| format!("the artifact is not a tar: {err}"))?;
    for entry in entries {
        let mut entry =
            entry.map_err(|err| format!("the artifact is not a readable tar: {err}"))?;
        let path = entry
            .path()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let kind = entry.header().entry_type();
        if !(kind.is_file() || kind.is_dir()) {
            return Err(format!(
                "the artifact holds {path}, which is not a plain file or directory"
            ));
        }
        let inside = entry
            .unpack_in(dir)
            .map_err(|err| format!("unpacking {path}: {err}"))?;
        if !inside {
            return Err(format!(
                "the artifact holds {path}, outside its own directory"
            ));
        }
    }
    Ok(())
}

/// One attempt at one submission: the loss and the evaluator's log, or why it failed and the log.
async fn attempt(
    platform: &Platform,
    evaluator: &Evaluator,
    inputs: &Inputs,
    submission: &SubmissionRow,
    number: i64,
    dir: &Path,
) -> std::result::Result<(f64, String), (String, String)> {
    let no_log = |why: String| (why, String::new());
    let artifact = dir.join(format!("{}.tar", submission.id));
    let stream = window::artifact(platform, submission)
        .await
        .map_err(|err| no_log(format!("the artifact could not be read: {err}")))?;
    save(stream, &artifact)
        .await
        .map_err(|err| no_log(format!("the artifact could not be read: {err}")))?;
    let unpacked = dir.join(format!("{}-{number}", submission.id));
    let output = dir.join(format!("{}-{number}-output", submission.id));
    for made in [&unpacked, &output] {
        std::fs::create_dir_all(made).map_err(|err| no_log(err.to_string()))?;
    }
    let (tar, into) = (artifact.clone(), unpacked.clone());
    tokio::task::spawn_blocking(move || unpack(&tar, &into))
        .await
        .map_err(|err| no_log(err.to_string()))?
        .map_err(no_log)?;

    score_model(evaluator, inputs, &unpacked, &output).await
}

/// Runs the evaluator on a model directory (Hugging Face layout) with `output` as its output
/// directory: the held-out loss and the evaluator's log, or why it failed and the log.
pub async fn score_model(
    evaluator: &Evaluator,
    inputs: &Inputs,
    model: &Path,
    output: &Path,
) -> std::result::Result<(f64, String), (String, String)> {
    let no_log = |why: String| (why, String::new());
    let host = [
        ("--spec", inputs.spec.clone(), "/task/spec.json"),
        ("--base-model", inputs.base_model.clone(), "/base-model"),
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
    };
    let outcome = evaluator
        .runner
        .run(&spec)
        .await
        .map_err(|err| no_log(format!("the evaluator could not run: {err}")))?;
    let log = outcome.logs.clone();
    if !outcome.succeeded() {
        return Err((
            format!("the evaluator ended with {:?}", outcome.ending),
            log,
        ));
    }
    let metrics = std::fs::read_to_string(output.join("metrics.json")).map_err(|_| {
        (
            "the evaluator wrote no metrics.json".to_string(),
            log.clone(),
        )
    })?;
    let loss = serde_json::from_str::<serde_json::Value>(&metrics)
        .ok()
        .and_then(|m| m["loss"].as_f64())
        .filter(|loss| loss.is_finite())
        .ok_or_else(|| {
            (
                format!("metrics.json has no finite loss: {metrics}"),
                log.clone(),
            )
        })?;
    Ok((loss, log))
}
