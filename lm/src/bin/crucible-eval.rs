//! `crucible-eval`: the reference evaluator. Scores one submission of one task on the secret test
//! split and writes `metrics.json` (docs/evaluator.md); exits non-zero, saying why, when it cannot.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use lm::eval::{self, Spec};

// Scoring allocates a tensor per operation, many of them megabytes: the system allocator hands each
// back to the kernel and faults it in afresh the next time; mimalloc keeps and reuses them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Scores a submission on a task's held-out rows: instruct and chat by the mean cross-entropy of the
/// completion tokens, dpo by the DPO loss against the base model, grpo by built-in rewards of greedy
/// completions. Lower is better.
#[derive(Parser)]
#[command(name = "crucible-eval", version)]
struct Args {
    /// Print the model families (`model_type`s) this program reads, as a JSON list, and exit.
    #[arg(long, exclusive = true)]
    families: bool,
    #[command(flatten)]
    scoring: Option<Scoring>,
}

#[derive(clap::Args)]
struct Scoring {
    /// The task, as JSON (task_type, dpo_beta, grpo_rewards).
    #[arg(long)]
    spec: PathBuf,
    /// The base model directory (Hugging Face layout).
    #[arg(long)]
    base_model: PathBuf,
    /// The submission, unpacked: the same layout, fine-tuned weights, or a PEFT LoRA adapter.
    #[arg(long)]
    submission: PathBuf,
    /// The held-out rows, one JSON object per line.
    #[arg(long)]
    test: PathBuf,
    /// Where metrics.json is written.
    #[arg(long, env = "OUTPUT_DIR")]
    output: PathBuf,
}

fn main() -> ExitCode {
    let threads = eval::workers();
    // SAFETY: no other thread exists yet. The scoring threads take a batch each and run its kernels
    // themselves, rather than each kernel splitting over the same cores again.
    unsafe {
        std::env::set_var("CRUCIBLE_EVAL_THREADS", threads.to_string());
        std::env::set_var("RAYON_NUM_THREADS", "1");
    }
    let args = Args::parse();
    if args.families {
        println!("{}", serde_json::json!(lm::eval::families()));
        return ExitCode::SUCCESS;
    }
    let Some(args) = args.scoring else {
        eprintln!("crucible-eval: give --spec, --base-model, --submission, --test and --output");
        return ExitCode::FAILURE;
    };
    match run(&args) {
        Ok(metrics) => {
            println!(
                "loss {:.6} over {} rows ({} tokens; {} rows left out)",
                metrics.loss, metrics.rows, metrics.tokens, metrics.skipped
            );
            ExitCode::SUCCESS
        }
        Err(lm::Error::Refused(why)) => {
            // The contract (docs/evaluator.md): exit 3 and refusal.json when the submission itself
            // cannot be scored, so that its miner, not the platform, answers for it.
            eprintln!("crucible-eval: the submission is refused: {why}");
            let refusal = serde_json::json!({ "reason": why }).to_string();
            let written = std::fs::create_dir_all(&args.output)
                .and_then(|()| std::fs::write(args.output.join("refusal.json"), refusal));
            if let Err(err) = written {
                eprintln!("crucible-eval: refusal.json: {err}");
                return ExitCode::FAILURE;
            }
            ExitCode::from(REFUSED_EXIT)
        }
        Err(err) => {
            eprintln!("crucible-eval: {err}");
            ExitCode::FAILURE
        }
    }
}

/// The exit status of a refused submission (docs/evaluator.md).
const REFUSED_EXIT: u8 = 3;

fn run(args: &Scoring) -> Result<eval::Metrics, lm::Error> {
    let spec_text =
        std::fs::read_to_string(&args.spec).map_err(|err| lm::Error::io(&args.spec, err))?;
    let spec: Spec = serde_json::from_str(&spec_text).map_err(|err| {
        lm::Error::Input(format!("{} is not a task spec: {err}", args.spec.display()))
    })?;
    let rows = eval::read_rows(&args.test)?;
    let metrics = eval::evaluate(&spec, &args.base_model, &args.submission, &rows)?;
    std::fs::create_dir_all(&args.output).map_err(|err| lm::Error::io(&args.output, err))?;
    let path = args.output.join("metrics.json");
    let json = serde_json::to_string(&metrics).expect("metrics serialise");
    std::fs::write(&path, json).map_err(|err| lm::Error::io(&path, err))?;
    Ok(metrics)
}
