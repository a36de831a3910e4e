//! Fine-tuning: AdamW over every weight (full) or over LoRA adapters on the completion tokens of a task's rows,
//! for a number of epochs or until a deadline, whichever comes first. Seeded, so one recipe on one
//! dataset gives one model.

use std::time::Instant;

use candle_core::Var;
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use rand::SeedableRng;
use rand::seq::SliceRandom;

use crate::Error;
use crate::loss::{self, Batch, Scorer};
use crate::text::Sequence;

/// How to train: the flags of a recipe.
#[derive(Clone, Debug, PartialEq)]
pub struct Recipe {
    pub learning_rate: f64,
    pub epochs: usize,
    pub batch_size: usize,
    pub seed: u64,
    /// Stop before this moment, whatever is left (the task's window).
    pub deadline: Option<Instant>,
}

impl Default for Recipe {
    fn default() -> Recipe {
        Recipe {
            learning_rate: 1e-3,
            epochs: 2,
            batch_size: 8,
            seed: 1,
            deadline: None,
        }
    }
}

/// One optimiser step's figures, for progress bars.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Step {
    pub step: usize,
    pub of: usize,
    /// Mean cross-entropy of the step's batch.
    pub loss: f32,
}

/// What a run did.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub steps: usize,
    pub tokens: usize,
    /// Mean loss of the last epoch's batches.
    pub last_loss: f32,
    /// Stopped at the deadline before the last epoch ended.
    pub cut_short: bool,
}

/// Trains `vars` (every weight of a `Trainable`, or the adapters `Gpt::add_lora` made) so that `model`
/// predicts the scored tokens of `sequences`.
pub fn fine_tune(
    model: &dyn Scorer,
    vars: Vec<Var>,
    sequences: &[Sequence],
    pad: u32,
    recipe: &Recipe,
    mut progress: impl FnMut(Step),
) -> Result<Report, Error> {
    if sequences.is_empty() {
        return Err(Error::Input("no training row could be read".into()));
    }
    let params = ParamsAdamW {
        lr: recipe.learning_rate,
        weight_decay: 0.01,
        ..Default::default()
    };
    let mut optimiser = AdamW::new(vars, params).map_err(Error::tensor)?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(recipe.seed);
    let mut order: Vec<usize> = (0..sequences.len()).collect();
    let per_epoch = sequences.len().div_ceil(recipe.batch_size.max(1));
    let total = per_epoch * recipe.epochs;
    let mut report = Report {
        steps: 0,
        tokens: 0,
        last_loss: f32::NAN,
        cut_short: false,
    };
    for _ in 0..recipe.epochs {
        order.shuffle(&mut rng);
        let (mut epoch_loss, mut batches) = (0.0f32, 0usize);
        for chunk in order.chunks(recipe.batch_size.max(1)) {
            if recipe.deadline.is_some_and(|d| Instant::now() >= d) {
                report.cut_short = true;
                return Ok(report);
            }
            let refs: Vec<&Sequence> = chunk.iter().map(|&i| &sequences[i]).collect();
            let batch = Batch::new(&refs, pad, &model.device()).map_err(Error::tensor)?;
            let (sum, tokens) = loss::cross_entropy(model, &batch).map_err(Error::tensor)?;
            if tokens == 0 {
                continue;
            }
            let mean = (sum / tokens as f64).map_err(Error::tensor)?;
            optimiser.backward_step(&mean).map_err(Error::tensor)?;
            let value = mean.to_scalar::<f32>().map_err(Error::tensor)?;
            report.steps += 1;
            report.tokens += tokens;
            epoch_loss += value;
            batches += 1;
            progress(Step {
                step: report.steps,
                of: total,
                loss: value,
            });
        }
        report.last_loss = epoch_loss / batches.max(1) as f32;
    }
    Ok(report)
}
