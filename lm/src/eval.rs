//! The reference evaluator (docs/evaluator.md): one submission of one task on the task's secret test
//! split, lower is better. It reads the reference family (`model`) and the decoder families
//! (`decoder`: Llama, Mistral, Qwen2, Qwen3, Gemma 2, Phi-3), full checkpoints or LoRA adapters, and
//! gives each scored row's own loss beside the mean.
//! - instruct, chat: the mean cross-entropy of the completion tokens of the held-out rows (prompt tokens
//!   masked), over all their tokens;
//! - dpo: the mean DPO loss of the submission against the base model, β from the spec;
//! - grpo: minus the weighted mean reward of greedy completions (built-in reward functions; `length`
//!   when the spec names none);
//! - image: not this program's: an operator supplies an evaluator image under the same contract.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use candle_core::Device;

use crate::Error;
use crate::adapter;
use crate::conversation::Conversations;
use crate::decoder::Decoder;
use crate::decoder::config::{DecoderConfig, Family};
use crate::loss::{self, Batch, Scorer};
use crate::model::Gpt;
use crate::rewards::{self, Reward};
use crate::text::{self, Sequence, Text};
use crate::weights::Weights;

/// Where a decoder family's submissions are scored: built with the `cuda` feature, the first GPU
/// when one is present (`CRUCIBLE_EVAL_DEVICE=cpu` keeps it on the CPU); otherwise the CPU. The
/// weights are read and adapters merged on the CPU either way.
pub fn scoring_device() -> Device {
    #[cfg(feature = "cuda")]
    if std::env::var("CRUCIBLE_EVAL_DEVICE").as_deref() != Ok("cpu")
        && let Ok(gpu) = Device::new_cuda(0)
    {
        return gpu;
    }
    Device::Cpu
}

/// `spec.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    #[serde(default)]
    pub task_id: String,
    pub task_type: String,
    #[serde(default)]
    pub model_id: String,
    #[serde(default = "default_beta")]
    pub dpo_beta: f64,
    #[serde(default)]
    pub grpo_rewards: Vec<Reward>,
}

fn default_beta() -> f64 {
    0.1
}

/// `metrics.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub loss: f64,
    /// Held-out rows scored.
    pub rows: usize,
    /// Rows that could not be read as the task type's rows, and were left out.
    pub skipped: usize,
    /// Tokens scored (instruct, chat, dpo) or generated (grpo).
    pub tokens: usize,
    /// Seconds spent scoring, after the models were loaded.
    pub seconds: f64,
    /// Each scored row's own loss, by its index in the test file, so that two submissions can be
    /// compared row by row.
    #[serde(default)]
    pub examples: Vec<Example>,
}

/// One held-out row's loss: its mean token cross-entropy (instruct, chat), its DPO loss (dpo), or minus
/// its reward (grpo).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Example {
    pub row: usize,
    pub loss: f64,
    pub tokens: usize,
}

/// Rows per forward pass.
const BATCH: usize = 16;
/// The most tokens a GRPO completion may have.
const MAX_NEW_TOKENS: usize = 48;

/// Threads to score with: `CRUCIBLE_EVAL_THREADS`, else `RAYON_NUM_THREADS` (as for candle's own
/// kernels), else every core. `crucible-eval` runs its kernels on the scoring threads themselves
/// (`RAYON_NUM_THREADS=1`): one batch per core measured 12 % faster than every batch split over all.
pub fn workers() -> usize {
    std::env::var("CRUCIBLE_EVAL_THREADS")
        .or_else(|_| std::env::var("RAYON_NUM_THREADS"))
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1)
}

/// Reads the test split: one JSON row per line.
pub fn read_rows(path: &Path) -> Result<Vec<Value>, Error> {
    let text = std::fs::read_to_string(path).map_err(|err| Error::io(path, err))?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line).map_err(|err| {
                Error::Input(format!(
                    "{} line {}: not JSON: {err}",
                    path.display(),
                    i + 1
                ))
            })
        })
        .collect()
}

/// How rows become tokens: always the base model's tokenizer (and chat template).
pub enum Ruler {
    /// The reference family's plain format.
    Plain(Box<Text>),
    /// A decoder family's conversations.
    Conversations(Box<Conversations>),
}

impl Ruler {
    fn completion(
        &self,
        row: &Value,
        task_type: &str,
        limit: usize,
    ) -> Result<Option<Sequence>, Error> {
        match self {
            Ruler::Plain(text) => {
                let format = if task_type == "chat" {
                    text::chat
                } else {
                    text::instruct
                };
                format(row)
                    .map(|(prompt, completion)| text.sequence(&prompt, &completion, limit))
                    .transpose()
            }
            Ruler::Conversations(c) => c.completion(row, task_type, limit),
        }
    }

    fn preference(&self, row: &Value, limit: usize) -> Result<Option<(Sequence, Sequence)>, Error> {
        match self {
            Ruler::Plain(text) => text::preference(row)
                .map(|(prompt, chosen, rejected)| {
                    Ok((
                        text.sequence(&prompt, &chosen, limit)?,
                        text.sequence(&prompt, &rejected, limit)?,
                    ))
                })
                .transpose(),
            Ruler::Conversations(c) => c.preference(row, limit),
        }
    }

    fn prompt(&self, row: &Value) -> Result<Option<Vec<u32>>, Error> {
        match self {
            Ruler::Plain(text) => text::grpo_prompt(row).map(|p| text.encode(&p)).transpose(),
            Ruler::Conversations(c) => c.prompt(row),
        }
    }

    fn decode(&self, ids: &[u32]) -> Result<String, Error> {
        match self {
            Ruler::Plain(text) => text.decode(ids),
            Ruler::Conversations(c) => c.decode(ids),
        }
    }

    /// The tokens that end a completion; the first also pads batches.
    fn ends(&self) -> Vec<u32> {
        match self {
            Ruler::Plain(text) => vec![text.eos],
            Ruler::Conversations(c) => c.ends.clone(),
        }
    }
}

/// The models and the ruler of one evaluation.
struct Loaded {
    submission: Box<dyn Scorer>,
    /// The base model, for DPO's reference.
    base: Option<Box<dyn Scorer>>,
    ruler: Ruler,
}

/// The `model_type` in `dir/config.json` (`gpt2`, the reference family, when it names none).
pub fn model_type(dir: &Path) -> Result<String, Error> {
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|err| Error::io(&path, err))?;
    let config: Value = serde_json::from_str(&text)
        .map_err(|err| Error::Model(format!("{} is not JSON: {err}", path.display())))?;
    Ok(config
        .get("model_type")
        .and_then(Value::as_str)
        .unwrap_or("gpt2")
        .to_string())
}

/// The families (`model_type`s) crucible-eval reads: the reference family and the decoder families.
pub fn families() -> Vec<&'static str> {
    std::iter::once("gpt2")
        .chain(Family::ALL.map(Family::model_type))
        .collect()
}

fn load(spec: &Spec, base: &Path, submission: &Path) -> Result<Loaded, Error> {
    let with_base = spec.task_type == "dpo";
    if model_type(base)? == "gpt2" {
        let text = Text::load(base)?;
        crate::submission::check_against_base(base, submission)?;
        let model = Gpt::load(submission).map_err(|err| match err {
            Error::Refused(why) => Error::Refused(why),
            other => Error::Refused(format!("its model does not load: {other}")),
        })?;
        return Ok(Loaded {
            submission: Box::new(model),
            base: if with_base {
                Some(Box::new(Gpt::load(base)?))
            } else {
                None
            },
            ruler: Ruler::Plain(Box::new(text)),
        });
    }
    let layout = DecoderConfig::read(base)?.layout()?;
    let ruler = Ruler::Conversations(Box::new(Conversations::load(base, &layout)?));
    let device = scoring_device();
    let adapter = adapter::is_adapter(submission);
    // The base's weights, read once: an adapter is merged into a copy, and DPO scores against them.
    let base_weights = if adapter || with_base {
        Some(Weights::read(base, &Device::Cpu)?)
    } else {
        None
    };
    let model = match &base_weights {
        Some(base_weights) if adapter => {
            crate::submission::check_tokenizer(base, submission)?;
            let mut weights = base_weights.clone();
            adapter::merge(submission, &spec.model_id, &mut weights)?;
            Decoder::new(layout.clone(), &weights.to_device(&device)?)?
        }
        _ => {
            crate::submission::check_against_base(base, submission)?;
            let weights = Weights::read(submission, &Device::Cpu)
                .map_err(|err| Error::Refused(format!("its model does not load: {err}")))?
                // Not the submission's fault when the GPU cannot take it.
                .to_device(&device)?;
            Decoder::new(layout.clone(), &weights)
                .map_err(|err| Error::Refused(format!("its model does not load: {err}")))?
        }
    };
    let reference = match base_weights {
        Some(weights) if with_base => {
            Some(Box::new(Decoder::new(layout, &weights.to_device(&device)?)?) as Box<dyn Scorer>)
        }
        _ => None,
    };
    Ok(Loaded {
        submission: Box::new(model),
        base: reference,
        ruler,
    })
}

/// Scores `submission` on `rows` as `spec` says, always with the base model's tokenizer and chat
/// template (a submission cannot bring the ruler it is measured with; see
/// `submission::check_against_base`). The submission is a full checkpoint, or a LoRA adapter on the
/// base (decoder families; `adapter`).
pub fn evaluate(
    spec: &Spec,
    base: &Path,
    submission: &Path,
    rows: &[Value],
) -> Result<Metrics, Error> {
    if !matches!(
        spec.task_type.as_str(),
        "instruct" | "chat" | "dpo" | "grpo"
    ) {
        return Err(Error::Input(match spec.task_type.as_str() {
            "image" => {
                "image tasks are evaluated by an operator-supplied evaluator image under the \
                        same contract; crucible-eval scores text tasks"
                    .into()
            }
            other => format!("unknown task type {other:?}"),
        }));
    }
    let loaded = load(spec, base, submission)?;
    let model = loaded.submission.as_ref();
    let ruler = &loaded.ruler;
    let metrics = match spec.task_type.as_str() {
        "dpo" => {
            let reference = loaded.base.as_deref().expect("dpo loads the base");
            timed(|| dpo_loss(model, reference, ruler, rows, spec.dpo_beta))
        }
        "grpo" => timed(|| grpo_loss(model, ruler, rows, &spec.grpo_rewards)),
        kind => timed(|| {
            let (sequences, skipped) = completions(ruler, rows, kind, model.context())?;
            completion_loss(model, &sequences, skipped, ruler.ends()[0])
        }),
    }?;
    if !metrics.loss.is_finite() {
        return Err(Error::Refused(format!(
            "its loss is not a number ({}): the weights do not give usable predictions",
            metrics.loss
        )));
    }
    Ok(metrics)
}

/// `score`'s metrics with the seconds it took (the models are loaded before).
fn timed(score: impl FnOnce() -> Result<Metrics, Error>) -> Result<Metrics, Error> {
    let started = std::time::Instant::now();
    let mut metrics = score()?;
    metrics.seconds = started.elapsed().as_secs_f64();
    Ok(metrics)
}

/// The rows as scored sequences with their row index, and how many rows could not be read.
pub fn completions(
    ruler: &Ruler,
    rows: &[Value],
    task_type: &str,
    limit: usize,
) -> Result<(Vec<(usize, Sequence)>, usize), Error> {
    let mut out = Vec::with_capacity(rows.len());
    let mut skipped = 0;
    for (i, row) in rows.iter().enumerate() {
        match ruler.completion(row, task_type, limit)? {
            Some(sequence) => out.push((i, sequence)),
            None => skipped += 1,
        }
    }
    Ok((out, skipped))
}

/// `work` on each of `items`, the items shared round-robin among the scoring threads; the results in
/// the items' order. Items are independent batches: small matrices keep one core busy each better
/// than they split across cores.
fn in_parallel<T: Sync, R: Send>(
    items: &[T],
    work: impl Fn(&T) -> Result<R, Error> + Sync,
) -> Result<Vec<R>, Error> {
    let threads = workers().min(items.len()).max(1);
    let work = &work;
    let parts: Vec<Result<Vec<(usize, R)>, Error>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|first| {
                scope.spawn(move || {
                    (first..items.len())
                        .step_by(threads)
                        .map(|i| work(&items[i]).map(|r| (i, r)))
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(Error::Model("a scoring thread panicked".into())))
            })
            .collect()
    });
    let mut results = Vec::with_capacity(items.len());
    for part in parts {
        results.extend(part?);
    }
    results.sort_by_key(|(i, _)| *i);
    Ok(results.into_iter().map(|(_, r)| r).collect())
}

/// The tokens of a sequence that are predicted and scored (its first token predicts nothing).
fn scored_tokens(sequence: &Sequence) -> usize {
    sequence.scored.iter().skip(1).filter(|s| **s).count()
}

/// The mean cross-entropy of the scored tokens of `sequences`, and each row's own.
pub fn completion_loss(
    model: &dyn Scorer,
    sequences: &[(usize, Sequence)],
    skipped: usize,
    pad: u32,
) -> Result<Metrics, Error> {
    let mut order: Vec<&(usize, Sequence)> = sequences.iter().collect();
    // Similar lengths together: less padding.
    order.sort_by_key(|(_, s)| s.ids.len());
    let batches: Vec<&[&(usize, Sequence)]> = order.chunks(BATCH).collect();
    let scored = in_parallel(&batches, |chunk| {
        let refs: Vec<&Sequence> = chunk.iter().map(|(_, s)| s).collect();
        let batch = Batch::new(&refs, pad, &model.device()).map_err(Error::tensor)?;
        let sums = loss::log_likelihoods(model, &batch)
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(Error::tensor)?;
        Ok(chunk
            .iter()
            .zip(sums)
            .map(|((row, sequence), sum)| Example {
                row: *row,
                loss: -f64::from(sum),
                tokens: scored_tokens(sequence),
            })
            .collect::<Vec<_>>())
    })?;
    let mut examples: Vec<Example> = scored.into_iter().flatten().collect();
    let total: f64 = examples.iter().map(|e| e.loss).sum();
    let tokens: usize = examples.iter().map(|e| e.tokens).sum();
    if tokens == 0 {
        return Err(Error::Input("no held-out row could be scored".into()));
    }
    examples.retain(|e| e.tokens > 0);
    for example in &mut examples {
        example.loss /= example.tokens as f64;
    }
    examples.sort_by_key(|e| e.row);
    Ok(Metrics {
        loss: total / tokens as f64,
        rows: sequences.len(),
        skipped,
        tokens,
        seconds: 0.0,
        examples,
    })
}

/// The mean DPO loss: −log σ(β · ((log π(chosen) − log π_ref(chosen)) − (log π(rejected) − log π_ref(rejected)))).
pub fn dpo_loss(
    policy: &dyn Scorer,
    reference: &dyn Scorer,
    ruler: &Ruler,
    rows: &[Value],
    beta: f64,
) -> Result<Metrics, Error> {
    let limit = policy.context().min(reference.context());
    let pad = ruler.ends()[0];
    let mut skipped = 0usize;
    let mut pairs = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        match ruler.preference(row, limit)? {
            Some((chosen, rejected)) => pairs.push((i, chosen, rejected)),
            None => skipped += 1,
        }
    }
    let chunks: Vec<&[(usize, Sequence, Sequence)]> = pairs.chunks(BATCH).collect();
    let scored = in_parallel(&chunks, |chunk| {
        let chosen: Vec<&Sequence> = chunk.iter().map(|(_, c, _)| c).collect();
        let rejected: Vec<&Sequence> = chunk.iter().map(|(_, _, r)| r).collect();
        let log_p = |model: &dyn Scorer, seqs: &[&Sequence]| -> Result<Vec<f32>, Error> {
            let batch = Batch::new(seqs, pad, &model.device()).map_err(Error::tensor)?;
            let sums = loss::log_likelihoods(model, &batch).map_err(Error::tensor)?;
            sums.to_vec1::<f32>().map_err(Error::tensor)
        };
        let (pc, pr) = (log_p(policy, &chosen)?, log_p(policy, &rejected)?);
        let (rc, rr) = (log_p(reference, &chosen)?, log_p(reference, &rejected)?);
        Ok(chunk
            .iter()
            .enumerate()
            .map(|(i, (row, c, r))| {
                let margin = beta * f64::from((pc[i] - rc[i]) - (pr[i] - rr[i]));
                // −log σ(m) = log(1 + e^(−m)), computed without overflow.
                let loss = if margin > 0.0 {
                    (-margin).exp().ln_1p()
                } else {
                    -margin + margin.exp().ln_1p()
                };
                Example {
                    row: *row,
                    loss,
                    tokens: scored_tokens(c) + scored_tokens(r),
                }
            })
            .collect::<Vec<_>>())
    })?;
    let examples: Vec<Example> = scored.into_iter().flatten().collect();
    let tokens = examples.iter().map(|e| e.tokens).sum();
    if examples.is_empty() {
        return Err(Error::Input("no held-out row is a preference pair".into()));
    }
    Ok(Metrics {
        loss: examples.iter().map(|e| e.loss).sum::<f64>() / examples.len() as f64,
        rows: examples.len(),
        skipped,
        tokens,
        seconds: 0.0,
        examples,
    })
}

/// Minus the weighted mean reward of greedy completions of each row's prompt.
pub fn grpo_loss(
    model: &dyn Scorer,
    ruler: &Ruler,
    rows: &[Value],
    rewards: &[Reward],
) -> Result<Metrics, Error> {
    let defaults = rewards::defaults();
    let rewards = if rewards.is_empty() {
        &defaults
    } else {
        rewards
    };
    rewards::check(rewards)?;
    let ends = ruler.ends();
    let mut skipped = 0usize;
    let mut prompts = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        match ruler.prompt(row)? {
            Some(prompt) => prompts.push((i, prompt)),
            None => skipped += 1,
        }
    }
    let examples = in_parallel(&prompts, |(i, prompt)| {
        let ids = generate(model, prompt, &ends, MAX_NEW_TOKENS)?;
        let completion = ruler.decode(&ids)?;
        Ok(Example {
            row: *i,
            loss: -rewards::score(rewards, &completion, &rows[*i]),
            tokens: ids.len(),
        })
    })?;
    let tokens = examples.iter().map(|e| e.tokens).sum();
    if examples.is_empty() {
        return Err(Error::Input("no held-out row has a prompt".into()));
    }
    Ok(Metrics {
        loss: examples.iter().map(|e| e.loss).sum::<f64>() / examples.len() as f64,
        rows: examples.len(),
        skipped,
        tokens,
        seconds: 0.0,
        examples,
    })
}

/// Greedy decoding: up to `max_new` tokens after `prompt`, stopping at any of `ends`.
pub fn generate(
    model: &dyn Scorer,
    prompt: &[u32],
    ends: &[u32],
    max_new: usize,
) -> Result<Vec<u32>, Error> {
    let limit = model.context();
    let mut ids: Vec<u32> = prompt.to_vec();
    if ids.is_empty() {
        ids.push(ends[0]);
    }
    let mut new = Vec::new();
    for _ in 0..max_new {
        let window = &ids[ids.len().saturating_sub(limit)..];
        let input = candle_core::Tensor::new(window, &Device::Cpu)
            .and_then(|t| t.unsqueeze(0))
            .map_err(Error::tensor)?;
        let next = model
            .hidden(&input)
            .and_then(|h| h.squeeze(0))
            .and_then(|h| h.narrow(0, window.len() - 1, 1))
            .and_then(|last| model.head(&last))
            .and_then(|logits| logits.squeeze(0))
            .and_then(|logits| logits.argmax(0))
            .and_then(|i| i.to_scalar::<u32>())
            .map_err(Error::tensor)?;
        if ends.contains(&next) {
            break;
        }
        ids.push(next);
        new.push(next);
    }
    Ok(new)
}
