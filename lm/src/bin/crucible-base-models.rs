//! `crucible-base-models --dir DIR`: creates the reference base models, one directory per model id
//! (`DIR/crucible/reference-tiny`, `DIR/crucible/reference-small`), the layout `crucible serve
//! --base-models DIR` reads. No weights can be downloaded here, so they are made: a tokenizer trained
//! on the shipped public-domain corpus, seeded weights, a short pre-training.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use lm::base::{self, BaseSpec};
use lm::config::Size;

#[derive(Parser)]
#[command(name = "crucible-base-models", version)]
struct Args {
    /// Where the models go, one directory per model id.
    #[arg(long, default_value = "crucible-data/base-models")]
    dir: PathBuf,
    /// Only this size: tiny or small (default: both).
    #[arg(long)]
    size: Option<String>,
    /// The seed of the weights and of pre-training.
    #[arg(long, default_value_t = 56)]
    seed: u64,
    /// Pre-training steps (default: 150 for tiny, 300 for small).
    #[arg(long)]
    steps: Option<usize>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let sizes: Vec<(&str, Size)> = match args.size.as_deref() {
        None => lm::REFERENCE_MODELS.to_vec(),
        Some(name) => match lm::REFERENCE_MODELS
            .iter()
            .find(|(_, s)| Some(*s) == Size::parse(name))
        {
            Some(model) => vec![*model],
            None => {
                eprintln!("crucible-base-models: --size is tiny or small, not {name:?}");
                return ExitCode::FAILURE;
            }
        },
    };
    for (id, size) in sizes {
        let mut spec = BaseSpec::new(size);
        spec.seed = args.seed;
        if let Some(steps) = args.steps {
            spec.steps = steps;
        }
        let dir = args.dir.join(id);
        let started = std::time::Instant::now();
        let mut last = f32::NAN;
        if let Err(err) = base::create(&spec, base::CORPUS, &dir, |step| last = step.loss) {
            eprintln!("crucible-base-models: {id}: {err}");
            return ExitCode::FAILURE;
        }
        println!(
            "{id}: {} steps in {:.1} s, final pre-training loss {last:.3}, written to {}",
            spec.steps,
            started.elapsed().as_secs_f64(),
            dir.display()
        );
    }
    ExitCode::SUCCESS
}
