//! `crucible-train`: the reference training recipe as a tournament entry point. It takes the standard
//! arguments every recipe takes (docs/recipes.md) and the reference recipe's own flags, fine-tunes the
//! base model on the dataset within the hours given, and writes the model to the output directory in
//! the base's layout. Built into an image `FROM scratch`, it is the example recipe miners start from.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use lm::recipe::{RecipeArgs, fine_tune};
use serde_json::Value;

#[derive(Parser)]
#[command(name = "crucible-train", version)]
struct Args {
    /// The task's id (for the progress lines).
    #[arg(long)]
    task_id: String,
    /// The base model directory (Hugging Face layout).
    #[arg(long)]
    base_model: PathBuf,
    /// The training rows, one JSON object per line, in the task type's columns.
    #[arg(long)]
    dataset: PathBuf,
    /// How the rows' columns map to the task type's roles, as JSON (informative: the platform gives
    /// rows already in the task type's own columns).
    #[arg(long, default_value = "{}")]
    dataset_type: String,
    /// instruct, chat, dpo or grpo.
    #[arg(long)]
    task_type: String,
    /// Where the trained model is written.
    #[arg(long, env = "OUTPUT_DIR")]
    output_dir: PathBuf,
    /// The time the recipe has, in hours (fractions allowed); it stops training a tenth before, and at
    /// least two seconds before, to save the model.
    #[arg(long)]
    hours: f64,
    #[command(flatten)]
    recipe: RecipeArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(summary) => {
            println!("task {}: {summary}", args.task_id);
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("crucible-train: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<String, lm::Error> {
    let started = Instant::now();
    let method = args.recipe.method()?;
    if !(args.hours.is_finite() && args.hours > 0.0) {
        return Err(lm::Error::Input(format!(
            "--hours {}: give a positive number of hours",
            args.hours
        )));
    }
    serde_json::from_str::<Value>(&args.dataset_type)
        .map_err(|err| lm::Error::Input(format!("--dataset-type is not JSON: {err}")))?;
    let text =
        std::fs::read_to_string(&args.dataset).map_err(|err| lm::Error::io(&args.dataset, err))?;
    let rows = text
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str::<Value>(line).map_err(|err| {
                lm::Error::Input(format!("{} line {}: {err}", args.dataset.display(), i + 1))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let seconds = args.hours * 3600.0;
    let budget = Duration::from_secs_f64((seconds * 0.9).min(seconds - 2.0).max(0.0));
    let recipe = args.recipe.recipe(started + budget);
    std::fs::create_dir_all(&args.output_dir)
        .map_err(|err| lm::Error::io(&args.output_dir, err))?;
    fine_tune(
        &args.base_model,
        &args.output_dir,
        &rows,
        &args.task_type,
        (&recipe, method),
        &args.task_id,
    )
}
