//! The reference training recipe: fine-tunes a base model on a task's training rows, fully or with LoRA
//! adapters, and writes the result in the base's layout: a reference-family model with its adapters
//! folded in, or for a decoder family (Qwen2, Llama, …) a PEFT adapter on the base, or a checkpoint. The reference miner runs it inside
//! a task's window; `crucible-train` runs it as a tournament recipe inside a container.

use std::io::Write;
use std::path::Path;

use serde_json::Value;

use crate::Error;
use crate::conversation::Conversations;
use crate::decoder::config::DecoderConfig;
use crate::decoder::{self, Decoder};
use crate::model::{Gpt, Trainable};
use crate::text::{self, Sequence, Text};
use crate::train::{self, Recipe};
use crate::weights::Weights;

/// How a recipe trains.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Method {
    /// Every weight.
    Full,
    /// Adapters of rank `rank` on every attention and MLP layer, scaled by alpha / rank, folded into
    /// the weights before saving (the result is a plain model).
    Lora { rank: usize, alpha: f64 },
}

impl Method {
    /// The method a recipe's flags name: `full`, or `lora` with its rank (at least 1) and alpha.
    pub fn parse(name: &str, rank: usize, alpha: f64) -> Result<Method, Error> {
        match name {
            "full" => Ok(Method::Full),
            "lora" if rank > 0 => Ok(Method::Lora { rank, alpha }),
            "lora" => Err(Error::Input("--lora-rank is at least 1".into())),
            other => Err(Error::Input(format!("--method {other}: use full or lora"))),
        }
    }
}

/// A recipe's settings as command-line flags, shared by the reference miner and `crucible-train`.
#[derive(Clone, Debug, clap::Args)]
pub struct RecipeArgs {
    /// The recipe: AdamW's learning rate.
    #[arg(long, default_value_t = 1e-3)]
    pub learning_rate: f64,
    /// The recipe: passes over the training rows (stopped early at the deadline).
    #[arg(long, default_value_t = 2)]
    pub epochs: usize,
    /// The recipe: rows per optimiser step.
    #[arg(long, default_value_t = 8)]
    pub batch_size: usize,
    /// The recipe: seed of the row order.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The recipe: `full` fine-tuning of every weight, or `lora` adapters on every attention and MLP
    /// layer (folded into the weights before saving).
    #[arg(long, default_value = "full")]
    pub method: String,
    /// The recipe, with `--method lora`: the adapters' rank.
    #[arg(long, default_value_t = 8)]
    pub lora_rank: usize,
    /// The recipe, with `--method lora`: the adapters' scale is alpha / rank.
    #[arg(long, default_value_t = 16.0)]
    pub lora_alpha: f64,
}

impl RecipeArgs {
    pub fn method(&self) -> Result<Method, Error> {
        Method::parse(&self.method, self.lora_rank, self.lora_alpha)
    }

    /// The recipe, stopping at `deadline`.
    pub fn recipe(&self, deadline: std::time::Instant) -> Recipe {
        Recipe {
            learning_rate: self.learning_rate,
            epochs: self.epochs,
            batch_size: self.batch_size,
            seed: self.seed,
            deadline: Some(deadline),
        }
    }
}

/// Fine-tunes the base model in `base` on `rows` of `task_type` into `out`; what it did, in words.
/// Progress goes to standard error, labelled with `label` (several tasks may train at once).
pub fn fine_tune(
    base: &Path,
    out: &Path,
    rows: &[Value],
    task_type: &str,
    (recipe, method): (&Recipe, Method),
    label: &str,
) -> Result<String, Error> {
    if crate::eval::model_type(base)? != "gpt2" {
        return fine_tune_decoder(base, out, rows, task_type, (recipe, method), label);
    }
    let text = Text::load(base)?;
    let (model, vars) = match method {
        Method::Full => {
            let trainable = Trainable::load(base)?;
            (trainable.model, trainable.vars.all_vars())
        }
        Method::Lora { rank, alpha } => {
            let mut model = Gpt::load(base)?;
            let adapters = model.add_lora(rank, alpha, recipe.seed)?;
            (model, adapters)
        }
    };
    let limit = model.config.n_positions;
    let pairs: Vec<(String, String)> = rows
        .iter()
        .filter_map(|row| match task_type {
            "instruct" => text::instruct(row),
            "chat" => text::chat(row),
            // The reference recipe for preferences: supervised on the chosen answer.
            "dpo" => text::preference(row).map(|(prompt, chosen, _)| (prompt, chosen)),
            _ => None,
        })
        .collect();
    let sequences: Vec<Sequence> = pairs
        .iter()
        .map(|(prompt, completion)| text.sequence(prompt, completion, limit))
        .collect::<Result<_, _>>()?;
    let summary = train_on(
        &model,
        vars,
        &sequences,
        text.eos,
        (recipe, label),
        task_type,
    )?;
    model.save(out)?;
    let tokenizer = base.join("tokenizer.json");
    std::fs::copy(&tokenizer, out.join("tokenizer.json"))
        .map_err(|err| Error::io(&tokenizer, err))?;
    Ok(summary)
}

/// `fine_tune` for a decoder family (Qwen2, Llama, …): rows through the base's chat template, and the
/// result as a PEFT LoRA adapter (`adapter_config.json`, `adapter_model.safetensors`) on the base, or
/// with `full` as a whole checkpoint.
fn fine_tune_decoder(
    base: &Path,
    out: &Path,
    rows: &[Value],
    task_type: &str,
    (recipe, method): (&Recipe, Method),
    label: &str,
) -> Result<String, Error> {
    let layout = DecoderConfig::read(base)?.layout()?;
    let conversations = Conversations::load(base, &layout)?;
    let weights = Weights::read(base, &candle_core::Device::Cpu)?;
    // The weights a run trains: every one (its variables kept by name to save), or adapters on the base.
    let (model, vars, trainable) = match method {
        Method::Full => {
            let trainable =
                decoder::Trainable::new(layout.clone(), |name, shape| weights.take(name, shape))?;
            let vars = trainable.variables();
            (trainable.decoder.clone(), vars, Some(trainable))
        }
        Method::Lora { rank, alpha } => {
            let mut model = Decoder::new(layout.clone(), &weights)?;
            let vars = model.add_lora(rank, alpha, recipe.seed)?;
            (model, vars, None)
        }
    };
    let limit = layout.context;
    let mut sequences = Vec::new();
    for row in rows {
        let sequence = match task_type {
            "instruct" | "chat" => conversations.completion(row, task_type, limit)?,
            // The reference recipe for preferences: supervised on the chosen answer.
            "dpo" => conversations
                .preference(row, limit)?
                .map(|(chosen, _)| chosen),
            _ => None,
        };
        sequences.extend(sequence);
    }
    let pad = conversations.ends[0];
    let summary = train_on(&model, vars, &sequences, pad, (recipe, label), task_type)?;
    std::fs::create_dir_all(out).map_err(|err| Error::io(out, err))?;
    let copy = |name: &str| -> Result<(), Error> {
        let from = base.join(name);
        if from.is_file() {
            std::fs::copy(&from, out.join(name)).map_err(|err| Error::io(&from, err))?;
        }
        Ok(())
    };
    for name in ["tokenizer.json", "tokenizer_config.json"] {
        copy(name)?;
    }
    match (method, trainable) {
        (Method::Lora { rank, alpha }, _) => {
            let (tensors, targets) = model.adapter_tensors();
            let config = serde_json::json!({
                "peft_type": "LORA",
                "task_type": "CAUSAL_LM",
                "base_model_name_or_path": base.display().to_string(),
                "r": rank,
                "lora_alpha": alpha,
                "lora_dropout": 0.0,
                "target_modules": targets,
                "use_rslora": false,
                "bias": "none",
                "fan_in_fan_out": false,
            });
            let path = out.join(crate::adapter::CONFIG_FILE);
            std::fs::write(
                &path,
                serde_json::to_string_pretty(&config).expect("JSON serialises"),
            )
            .map_err(|err| Error::io(&path, err))?;
            crate::weights::save(tensors, &out.join(crate::adapter::WEIGHTS_FILE))?;
        }
        (Method::Full, Some(trainable)) => {
            copy("config.json")?;
            trainable.save(&out.join("model.safetensors"))?;
        }
        (Method::Full, None) => unreachable!("a full fine-tune keeps its variables"),
    }
    Ok(summary)
}

/// Trains `vars` on `sequences` with a progress bar labelled `label`; what it did, in words.
fn train_on(
    model: &dyn crate::loss::Scorer,
    vars: Vec<candle_core::Var>,
    sequences: &[Sequence],
    pad: u32,
    (recipe, label): (&Recipe, &str),
    task_type: &str,
) -> Result<String, Error> {
    if sequences.is_empty() {
        // GRPO rows hold prompts only: this recipe has nothing to learn from and submits the base.
        return Ok(format!(
            "no {task_type} rows it can learn from; the base weights are submitted"
        ));
    }
    let mut bar = Bar::new(label);
    let report = train::fine_tune(model, vars, sequences, pad, recipe, |step| bar.show(step))?;
    Ok(format!(
        "{} steps over {} rows, last loss {:.3}{}",
        report.steps,
        sequences.len(),
        report.last_loss,
        if report.cut_short {
            " (cut short by the deadline)"
        } else {
            ""
        }
    ))
}

/// A progress bar on standard error, one line per tenth of the run.
struct Bar {
    label: String,
    shown: usize,
}

impl Bar {
    fn new(label: &str) -> Bar {
        Bar {
            label: label.chars().take(8).collect(),
            shown: usize::MAX,
        }
    }

    fn show(&mut self, step: train::Step) {
        let tenth = step.step * 10 / step.of.max(1);
        if tenth == self.shown && step.step != step.of {
            return;
        }
        self.shown = tenth;
        let filled = step.step * 24 / step.of.max(1);
        let mut err = std::io::stderr().lock();
        let _ = writeln!(
            err,
            "[{}] {}{} {}/{} loss {:.3}",
            self.label,
            "█".repeat(filled),
            "░".repeat(24 - filled.min(24)),
            step.step,
            step.of,
            step.loss
        );
    }
}
