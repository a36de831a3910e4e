//! The reference evaluator (docs/evaluator.md): one submission of one task on the task's secret test
//! split, lower is better.
//! - instruct, chat: the mean cross-entropy of the completion tokens of the held-out rows (prompt tokens
//!   masked), over all their tokens;
//! - dpo: the mean DPO loss of the submission against the base model, β from the spec;
//! - grpo: minus the weighted mean reward of greedy completions (built-in reward functions; `length`
//!   when the spec names none);
//! - image: not this program's: an operator supplies an evaluator image under the same contract.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Error;
use crate::loss::{self, Batch};
use crate::model::Gpt;
use crate::rewards::{self, Reward};
use crate::text::{self, Sequence, Text};

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
}

/// Rows per forward pass.
const BATCH: usize = 16;
/// The most tokens a GRPO completion may have.
const MAX_NEW_TOKENS: usize = 48;

/// Threads to score with: `RAYON_NUM_THREADS` when set (as for candle's own kernels), else every core.
fn workers() -> usize {
    std::env::var("RAYON_NUM_THREADS")
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

/// The submission's weights, refused as its own fault when they do not load.
fn load_submission(submission: &Path) -> Result<Gpt, Error> {
    Gpt::load(submission).map_err(|err| match err {
        Error::Refused(why) => Error::Refused(why),
        other => Error::Refused(format!("its model does not load: {other}")),
    })
}

/// Scores `submission` on `rows` as `spec` says, always with the base model's tokenizer (a
/// submission cannot bring the ruler it is measured with; see `submission::check_against_base`).
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
    let text = Text::load(base)?;
    crate::submission::check_against_base(base, submission)?;
    let model = load_submission(submission)?;
    let metrics = match spec.task_type.as_str() {
        "dpo" => {
            let reference = Gpt::load(base)?;
            timed(|| dpo_loss(&model, &reference, &text, rows, spec.dpo_beta))
        }
        "grpo" => timed(|| grpo_loss(&model, &text, rows, &spec.grpo_rewards)),
        kind => {
            let format = if kind == "chat" {
                text::chat
            } else {
                text::instruct
            };
            timed(|| completion_loss(&model, &text, rows, format))
        }
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

/// Sequences of `rows` through `format`, and how many rows could not be formatted.
fn sequences(
    text: &Text,
    rows: &[Value],
    limit: usize,
    format: fn(&Value) -> Option<(String, String)>,
) -> Result<(Vec<Sequence>, usize), Error> {
    let mut out = Vec::with_capacity(rows.len());
    let mut skipped = 0;
    for row in rows {
        match format(row) {
            Some((prompt, completion)) => out.push(text.sequence(&prompt, &completion, limit)?),
            None => skipped += 1,
        }
    }
    Ok((out, skipped))
}

/// The mean cross-entropy of the completion tokens of `rows`.
pub fn completion_loss(
    model: &Gpt,
    text: &Text,
    rows: &[Value],
    format: fn(&Value) -> Option<(String, String)>,
) -> Result<Metrics, Error> {
    let (mut sequences, skipped) = sequences(text, rows, model.config.n_positions, format)?;
    // Similar lengths together: less padding.
    sequences.sort_by_key(|s| s.ids.len());
    let batches: Vec<&[Sequence]> = sequences.chunks(BATCH).collect();
    // Batches are independent: each thread scores every `threads`-th one (small matrices keep one
    // core busy each better than they split across cores).
    let threads = workers().min(batches.len()).max(1);
    let sums: Vec<Result<(f64, usize), Error>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|first| {
                let batches = &batches;
                scope.spawn(move || {
                    let (mut total, mut tokens) = (0.0f64, 0usize);
                    for chunk in batches.iter().skip(first).step_by(threads) {
                        let refs: Vec<&Sequence> = chunk.iter().collect();
                        let batch = Batch::new(&refs, text.eos).map_err(Error::tensor)?;
                        let (sum, count) =
                            loss::cross_entropy(model, &batch).map_err(Error::tensor)?;
                        total += f64::from(sum.to_scalar::<f32>().map_err(Error::tensor)?);
                        tokens += count;
                    }
                    Ok((total, tokens))
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
    let (mut total, mut tokens) = (0.0f64, 0usize);
    for sum in sums {
        let (t, n) = sum?;
        total += t;
        tokens += n;
    }
    if tokens == 0 {
        return Err(Error::Input("no held-out row could be scored".into()));
    }
    Ok(Metrics {
        loss: total / tokens as f64,
        rows: sequences.len(),
        skipped,
        tokens,
        seconds: 0.0,
    })
}

/// The mean DPO loss: −log σ(β · ((log π(chosen) − log π_ref(chosen)) − (log π(rejected) − log π_ref(rejected)))).
pub fn dpo_loss(
    policy: &Gpt,
    reference: &Gpt,
    text: &Text,
    rows: &[Value],
    beta: f64,
) -> Result<Metrics, Error> {
    let limit = policy.config.n_positions.min(reference.config.n_positions);
    let (mut total, mut scored, mut skipped, mut tokens) = (0.0f64, 0usize, 0usize, 0usize);
    let mut pairs = Vec::new();
    for row in rows {
        match text::preference(row) {
            Some((prompt, chosen, rejected)) => pairs.push((
                text.sequence(&prompt, &chosen, limit)?,
                text.sequence(&prompt, &rejected, limit)?,
            )),
            None => skipped += 1,
        }
    }
    for chunk in pairs.chunks(BATCH) {
        let chosen: Vec<&Sequence> = chunk.iter().map(|(c, _)| c).collect();
        let rejected: Vec<&Sequence> = chunk.iter().map(|(_, r)| r).collect();
        let log_p = |model: &Gpt, seqs: &[&Sequence]| -> Result<Vec<f32>, Error> {
            let batch = Batch::new(seqs, text.eos).map_err(Error::tensor)?;
            let sums = loss::log_likelihoods(model, &batch).map_err(Error::tensor)?;
            sums.to_vec1::<f32>().map_err(Error::tensor)
        };
        let (pc, pr) = (log_p(policy, &chosen)?, log_p(policy, &rejected)?);
        let (rc, rr) = (log_p(reference, &chosen)?, log_p(reference, &rejected)?);
        for i in 0..chunk.len() {
            let margin = beta * f64::from((pc[i] - rc[i]) - (pr[i] - rr[i]));
            // −log σ(m) = log(1 + e^(−m)), computed without overflow.
            total += if margin > 0.0 {
                (-margin).exp().ln_1p()
            } else {
                -margin + margin.exp().ln_1p()
            };
            scored += 1;
        }
        tokens += chunk
            .iter()
            .map(|(c, r)| c.scored.iter().chain(&r.scored).filter(|s| **s).count())
            .sum::<usize>();
    }
    if scored == 0 {
        return Err(Error::Input("no held-out row is a preference pair".into()));
    }
    Ok(Metrics {
        loss: total / scored as f64,
        rows: scored,
        skipped,
        tokens,
        seconds: 0.0,
    })
}

/// Minus the weighted mean reward of greedy completions of each row's prompt.
pub fn grpo_loss(
    model: &Gpt,
    text: &Text,
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
    let (mut total, mut scored, mut skipped, mut tokens) = (0.0f64, 0usize, 0usize, 0usize);
    for row in rows {
        let Some(prompt) = text::grpo_prompt(row) else {
            skipped += 1;
            continue;
        };
        let ids = generate(model, text, &text.encode(&prompt)?, MAX_NEW_TOKENS)?;
        tokens += ids.len();
        let completion = text.decode(&ids)?;
        total += rewards::score(rewards, &completion, row);
        scored += 1;
    }
    if scored == 0 {
        return Err(Error::Input("no held-out row has a prompt".into()));
    }
    Ok(Metrics {
        loss: -total / scored as f64,
        rows: scored,
        skipped,
        tokens,
        seconds: 0.0,
    })
}

/// Greedy decoding: up to `max_new` tokens after `prompt`, stopping at the end of text.
pub fn generate(
    model: &Gpt,
    text: &Text,
    prompt: &[u32],
    max_new: usize,
) -> Result<Vec<u32>, Error> {
    let limit = model.config.n_positions;
    let mut ids: Vec<u32> = prompt.to_vec();
    if ids.is_empty() {
        ids.push(text.eos);
    }
    let mut new = Vec::new();
    for _ in 0..max_new {
        let window = &ids[ids.len().saturating_sub(limit)..];
        let input = candle_core::Tensor::new(window, &candle_core::Device::Cpu)
            .and_then(|t| t.unsqueeze(0))
            .map_err(Error::tensor)?;
        let logits = model.forward(&input).map_err(Error::tensor)?;
        let last = logits
            .squeeze(0)
            .and_then(|l| l.get(window.len() - 1))
            .and_then(|l| l.argmax(0))
            .and_then(|i| i.to_scalar::<u32>())
            .map_err(Error::tensor)?;
        if last == text.eos {
            break;
        }
        ids.push(last);
        new.push(last);
    }
    Ok(new)
}
