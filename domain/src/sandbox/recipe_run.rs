//! One recipe's run on one task (of a tournament's match, or a customer's task in champion mode): a
//! fresh container on the trainer host, with the task's training rows and the base model mounted
//! read-only, no network, the task's time limit and the host's resource limits; in a tournament its
//! output is then scored by the evaluator as an organic submission is.
//! When the host itself fails (the engine unreachable, the container not created) the run is tried
//! once more; a recipe that crashes, overruns or writes no model simply loses.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use runner::Runner;

use super::{Evaluator, Fault, Inputs, Trainers, artifact, evaluator};
use crate::db::recipes::RecipeRow;

/// Attempts at a run when the trainer host fails to run it.
pub const ATTEMPTS: i64 = 2;

/// Where the inputs are mounted inside the container.
const BASE_MOUNT: &str = "/inputs/base";
const DATA_MOUNT: &str = "/inputs/data";

/// What a task gives the recipe that trains on it: its id, the directory holding its `train.jsonl`,
/// its type, the base model's directory and the time a run has.
pub struct TaskInputs<'a> {
    pub task_id: String,
    pub data_dir: PathBuf,
    pub task_type: &'a str,
    pub base_model: &'a Path,
    pub time: Duration,
}

/// How a recipe's run went: its held-out loss (or why it has none), the attempts it took, the
/// container's (and the evaluator's) log, and how long it all took.
pub struct Run {
    pub loss: Result<f64, String>,
    pub attempts: i64,
    pub log: String,
    pub seconds: f64,
}

/// Runs `recipe` on the task and scores its model on the held-out split (`evaluation`).
pub async fn run(
    trainers: &Trainers,
    evaluator: &Evaluator,
    evaluation: &Inputs,
    task: &TaskInputs<'_>,
    recipe: &RecipeRow,
    work: &Path,
) -> Run {
    let started = Instant::now();
    let mut run = Run {
        loss: Err(String::new()),
        attempts: 0,
        log: String::new(),
        seconds: 0.0,
    };
    run.loss = match train(
        trainers,
        task,
        recipe,
        work,
        &mut run.attempts,
        &mut run.log,
    )
    .await
    {
        Ok(model) => {
            let scoring = format!("score-recipe-{}-task-{}", recipe.id, task.task_id);
            score(evaluator, evaluation, &model.dir, scoring, &mut run.log).await
        }
        Err(why) => Err(why),
    };
    run.seconds = started.elapsed().as_secs_f64();
    run
}

/// Scores the model in `model` with the evaluator, adding the evaluator's log to `log`.
async fn score(
    evaluator: &Evaluator,
    evaluation: &Inputs,
    model: &Path,
    scoring: String,
    log: &mut String,
) -> Result<f64, String> {
    let scored = model.with_extension("scored");
    std::fs::create_dir_all(&scored).map_err(|err| format!("a work directory: {err}"))?;
    match evaluator::score_model(evaluator, evaluation, model, &scored, scoring).await {
        Ok((score, _)) => Ok(score.loss),
        Err((fault, evaluator_log)) => {
            log.push_str(&evaluator_log);
            let why = match fault {
                Fault::Submission(why) => why,
                Fault::Platform(why) => format!("the platform failed: {why}"),
            };
            Err(format!("its model could not be evaluated: {why}"))
        }
    }
}

/// A recipe's model, vetted: its files, and the same files as the tar they were unpacked from.
pub struct Model {
    pub dir: PathBuf,
    pub tar: PathBuf,
}

/// Trains: runs `recipe`'s image in a fresh container with the task's inputs mounted read-only, and
/// returns the model it wrote, or why there is none; counts the `attempts` and keeps the container's
/// `log`.
pub async fn train(
    trainers: &Trainers,
    task: &TaskInputs<'_>,
    recipe: &RecipeRow,
    work: &Path,
    attempts: &mut i64,
    log: &mut String,
) -> Result<Model, String> {
    // By the digest recorded when it was built, never by a name that could since point elsewhere.
    let image = recipe
        .image_digest
        .as_deref()
        .ok_or("the recipe was never built")?;
    let runner = runner::DockerRunner::new(trainers.docker.clone(), image);
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
    while *attempts < ATTEMPTS {
        *attempts += 1;
        let output = work.join(format!("{}-{}-output", recipe.id, attempts));
        std::fs::create_dir_all(&output).map_err(|err| format!("a work directory: {err}"))?;
        let spec = runner::RunSpec {
            command: command.clone(),
            inputs: vec![
                (task.base_model.to_path_buf(), BASE_MOUNT.into()),
                (task.data_dir.clone(), DATA_MOUNT.into()),
            ],
            output_dir: output.clone(),
            env: Vec::new(),
            limits,
            // The same for every attempt at this run, by this job or the one that takes it over.
            work: Some(format!("recipe-{}-task-{}", recipe.id, task.task_id)),
        };
        let outcome = match runner.run(&spec).await {
            Ok(outcome) => outcome,
            Err(err) => {
                last_failure = format!("the trainer host could not run it: {err}");
                continue;
            }
        };
        *log = outcome.logs.clone();
        if !outcome.succeeded() {
            return Err(match outcome.ending {
                runner::Ending::TimedOut => format!(
                    "the recipe overran its {:.0} s and was stopped",
                    task.time.as_secs_f64()
                ),
                runner::Ending::OutputTooLarge => format!(
                    "the recipe wrote more than its {} MiB of output and was stopped",
                    limits.output_bytes >> 20
                ),
                ending => format!("the recipe ended with {ending:?}"),
            });
        }
        // What the container wrote is untrusted: it becomes a model only as an organic artifact
        // does, with links and special files refused.
        let dir = work.join(format!("{}-{}-model", recipe.id, attempts));
        let (from, into) = (output.clone(), dir.clone());
        let tar = tokio::task::spawn_blocking(move || artifact::vetted_copy(&from, &into))
            .await
            .map_err(|err| format!("vetting its output failed: {err}"))?
            .map_err(|why| format!("the recipe's output was refused: {why}"))?;
        return Ok(Model { dir, tar });
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

    /// On this machine's Docker engine: a recipe whose container leaves a link to a host file where
    /// its model should be loses with the reason, and nothing of the link reaches an evaluator.
    #[tokio::test]
    async fn a_recipe_whose_output_links_to_a_host_file_loses_before_any_evaluator_reads_it() {
        let work = tempfile::tempdir().unwrap();
        let docker =
            runner::DockerRunner::connect(None).expect("the Docker engine on this machine");
        let limits = runner::Limits {
            time: Duration::from_secs(60),
            memory_bytes: 256 << 20,
            ..runner::Limits::default()
        };
        let context = testkit::recipes::probe(work.path(), "link");
        let image =
            runner::DockerRunner::build(&docker, "crucible-test-link:latest", context, &limits)
                .await
                .expect("the probe recipe builds");
        let trainers = Trainers {
            docker,
            limits,
            build_timeout: Duration::from_secs(60),
            max_recipe_bytes: 1 << 20,
            allowed_bases: Vec::new(),
        };
        let (data, base) = (work.path().join("data"), work.path().join("base"));
        write_task_rows("{\"a\":1}\n", 0, 1, &data).unwrap();
        std::fs::create_dir_all(&base).unwrap();
        let task = TaskInputs {
            task_id: "t".into(),
            data_dir: data,
            task_type: "instruct",
            base_model: &base,
            time: Duration::from_secs(30),
        };
        let recipe = RecipeRow {
            id: "r".into(),
            miner_id: "m".into(),
            name: "link".into(),
            sha256: String::new(),
            size_bytes: 0,
            state: crate::states::RecipeState::Built,
            image_tag: None,
            image_digest: Some(image.id),
            build_log: String::new(),
            created_at: 0,
            updated_at: 0,
        };
        let (mut attempts, mut log) = (0, String::new());
        let why = match train(
            &trainers,
            &task,
            &recipe,
            work.path(),
            &mut attempts,
            &mut log,
        )
        .await
        {
            Ok(_) => panic!("a model with a link to a host file was taken: {log}"),
            Err(why) => why,
        };
        assert!(log.contains("wrote a link to a host file"), "{log}");
        assert!(
            why.contains("the recipe's output was refused") && why.contains("loss.txt"),
            "{why}"
        );
    }

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
