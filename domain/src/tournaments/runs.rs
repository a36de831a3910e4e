//! One recipe's run on one task of a match: a fresh container on the trainer host, with the task's
//! training rows and the base model mounted read-only, no network, the tournament's time limit and the
//! host's resource limits; its output is then scored by the evaluator as an organic submission is.
//! When the host itself fails (the engine unreachable, the container not created) the run is tried
//! once more; a recipe that crashes, overruns or writes no model simply loses.

use std::path::{Path, PathBuf};
use std::time::Instant;

use runner::Runner;

use crate::clock::now_ms;
use crate::db::recipes::RecipeRow;
use crate::db::tournaments::RunRow;
use crate::evaluation::{self, Evaluator, Inputs};
use crate::tournaments::Trainers;

/// Attempts at a run when the trainer host fails to run it.
pub const ATTEMPTS: i64 = 2;

/// Where the inputs are mounted inside the container.
const BASE_MOUNT: &str = "/inputs/base";
const DATA_MOUNT: &str = "/inputs/data";

/// What one task of a match gives every entrant: its id, the directory holding its `train.jsonl`,
/// its type and the time a run has.
pub struct TaskInputs<'a> {
    pub task_id: String,
    pub data_dir: PathBuf,
    pub task_type: &'a str,
    pub time: std::time::Duration,
    pub evaluation: &'a Inputs,
}

/// Runs `recipe` on the task and says how it went, as the row to record.
pub async fn run(
    trainers: &Trainers,
    evaluator: &Evaluator,
    task: &TaskInputs<'_>,
    recipe: &RecipeRow,
    match_id: &str,
    task_index: i64,
    work: &Path,
) -> RunRow {
    let started = Instant::now();
    let mut row = RunRow {
        match_id: match_id.to_string(),
        recipe_id: recipe.id.clone(),
        task_index,
        state: "failed".into(),
        attempts: 0,
        loss: None,
        error: None,
        log: String::new(),
        seconds: 0.0,
        updated_at: 0,
    };
    let result = train_and_score(trainers, evaluator, task, recipe, work, &mut row).await;
    match result {
        Ok(loss) => {
            row.state = "done".into();
            row.loss = Some(loss);
        }
        Err(why) => row.error = Some(why),
    }
    row.seconds = started.elapsed().as_secs_f64();
    row.updated_at = now_ms();
    row
}

async fn train_and_score(
    trainers: &Trainers,
    evaluator: &Evaluator,
    task: &TaskInputs<'_>,
    recipe: &RecipeRow,
    work: &Path,
    row: &mut RunRow,
) -> Result<f64, String> {
    let tag = recipe
        .image_tag
        .as_deref()
        .ok_or("the recipe was never built")?;
    let runner = runner::DockerRunner::new(trainers.docker.clone(), tag);
    let mut limits = trainers.limits;
    limits.time = task.time;
    let hours = task.time.as_secs_f64() / 3600.0;
    let command = [
        "--task-id",
        &task.task_id,
        "--base-model",
        BASE_MOUNT,
        "--dataset",
        &format!("{DATA_MOUNT}/train.jsonl"),
        "--dataset-type",
        "{}",
        "--task-type",
        task.task_type,
        "--output-dir",
        runner::OUTPUT_MOUNT,
        "--hours",
        &format!("{hours:.6}"),
    ]
    .map(str::to_string)
    .to_vec();
    let mut last_failure = String::new();
    while row.attempts < ATTEMPTS {
        row.attempts += 1;
        let output = work.join(format!("{}-{}-output", recipe.id, row.attempts));
        let scored = work.join(format!("{}-{}-scored", recipe.id, row.attempts));
        for dir in [&output, &scored] {
            std::fs::create_dir_all(dir).map_err(|err| format!("a work directory: {err}"))?;
        }
        let spec = runner::RunSpec {
            command: command.clone(),
            inputs: vec![
                (
                    task.evaluation.base_model().to_path_buf(),
                    BASE_MOUNT.into(),
                ),
                (task.data_dir.clone(), DATA_MOUNT.into()),
            ],
            output_dir: output.clone(),
            env: Vec::new(),
            limits,
        };
        let outcome = match runner.run(&spec).await {
            Ok(outcome) => outcome,
            Err(err) => {
                last_failure = format!("the trainer host could not run it: {err}");
                continue;
            }
        };
        row.log = outcome.logs.clone();
        if !outcome.succeeded() {
            return Err(match outcome.ending {
                runner::Ending::TimedOut => format!(
                    "the recipe overran its {:.0} s and was stopped",
                    task.time.as_secs_f64()
                ),
                ending => format!("the recipe ended with {ending:?}"),
            });
        }
        return match evaluation::score_model(evaluator, task.evaluation, &output, &scored).await {
            Ok((loss, _)) => Ok(loss),
            Err((why, log)) => {
                row.log.push_str(&log);
                Err(format!("its model could not be evaluated: {why}"))
            }
        };
    }
    Err(last_failure)
}

/// Writes task `index` of `tasks`' training rows to `dir/train.jsonl`: every row for a single task;
/// for several, each leaves out a different fold (every `tasks`-th row from `index`), so that the
/// tasks differ while every entrant sees the same ones.
pub fn write_task_rows(train: &str, index: usize, tasks: usize, dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let rows: Vec<&str> = train
        .lines()
        .enumerate()
        .filter(|(i, line)| !line.trim().is_empty() && (tasks <= 1 || i % tasks != index))
        .map(|(_, line)| line)
        .collect();
    std::fs::write(dir.join("train.jsonl"), rows.join("\n") + "\n")?;
    // The container's unprivileged user reads the rows.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
    std::fs::set_permissions(
        dir.join("train.jsonl"),
        std::fs::Permissions::from_mode(0o644),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_task_trains_on_every_row_and_six_each_leave_out_their_own_fold() {
        let train: String = (0..12).map(|i| format!("{{\"i\":{i}}}\n")).collect();
        let dir = tempfile::tempdir().unwrap();
        write_task_rows(&train, 0, 1, dir.path()).unwrap();
        let all = std::fs::read_to_string(dir.path().join("train.jsonl")).unwrap();
        assert_eq!(all.lines().count(), 12);
        write_task_rows(&train, 2, 6, dir.path()).unwrap();
        let fold = std::fs::read_to_string(dir.path().join("train.jsonl")).unwrap();
        assert_eq!(fold.lines().count(), 10);
        assert!(
            !fold.contains("\"i\":2}") && !fold.contains("\"i\":8}"),
            "{fold}"
        );
        assert!(fold.contains("\"i\":3}"));
    }
}
