//! `crucible-base-models --dir DIR`: creates the reference base models, one directory per model id
//! (`DIR/crucible/reference-tiny`, `DIR/crucible/reference-small`, `DIR/crucible/qwen2-tiny`,
//! `DIR/crucible/llama-tiny`), the layout `crucible serve --base-models DIR` reads. No weights can be
//! downloaded here, so they are made: a tokenizer trained on the shipped public-domain corpus, seeded
//! weights, a short pre-training.

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
    /// Only the reference family's model of this size: tiny or small (default: both).
    #[arg(long)]
    size: Option<String>,
    /// Only these families: reference (GPT-2 layout), qwen2, llama (default: all).
    #[arg(long, value_delimiter = ',')]
    family: Vec<String>,
    /// The seed of the weights and of pre-training.
    #[arg(long, default_value_t = 56)]
    seed: u64,
    /// Pre-training steps (default: 150 for tiny, 300 for small).
    #[arg(long)]
    steps: Option<usize>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    for family in &args.family {
        if !["reference", "qwen2", "llama"].contains(&family.as_str()) {
            eprintln!(
                "crucible-base-models: --family is reference, qwen2 or llama, not {family:?}"
            );
            return ExitCode::FAILURE;
        }
    }
    let wanted = |family: &str| args.family.is_empty() || args.family.iter().any(|f| f == family);
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
    let mut jobs: Vec<(&str, Option<lm::decoder::config::Family>, Size)> = Vec::new();
    if wanted("reference") {
        jobs.extend(sizes.into_iter().map(|(id, size)| (id, None, size)));
    }
    for (id, family) in base::FAMILY_MODELS {
        if wanted(family.model_type()) {
            jobs.push((id, Some(family), Size::Tiny));
        }
    }
    for (id, family, size) in jobs {
        let mut spec = BaseSpec::new(size);
        spec.seed = args.seed;
        if let Some(steps) = args.steps {
            spec.steps = steps;
        }
        let dir = args.dir.join(id);
        let started = std::time::Instant::now();
        let mut last = f32::NAN;
        let made = match family {
            None => base::create(&spec, base::CORPUS, &dir, |step| last = step.loss),
            Some(family) => {
                base::create_decoder(family, &spec, base::CORPUS, &dir, |step| last = step.loss)
            }
        };
        if let Err(err) = made {
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
