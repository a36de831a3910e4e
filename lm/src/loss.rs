//! Token losses over batches of sequences: the cross-entropy of each scored token given the tokens
//! before it. Sequences of a batch are padded at their end; a causal model never looks ahead, so the
//! padding changes nothing before it. Only the positions that predict a scored token go through the
//! output head (a prompt's positions are run through the blocks, as context, but never scored).

use candle_core::{D, Device, Tensor};

use crate::text::Sequence;

/// What scoring needs of a model: the final hidden states of every position, and the head that turns
/// them into logits.
pub trait Scorer: Sync {
    /// `[batch, time, hidden]` for token ids `[batch, time]`.
    fn hidden(&self, ids: &Tensor) -> candle_core::Result<Tensor>;
    /// Logits `[rows, vocab]` for hidden states `[rows, hidden]`.
    fn head(&self, hidden: &Tensor) -> candle_core::Result<Tensor>;
    /// The longest sequence it reads.
    fn context(&self) -> usize;
    /// Where its weights are: its batches go there.
    fn device(&self) -> Device;
}

impl Scorer for crate::model::Gpt {
    fn hidden(&self, ids: &Tensor) -> candle_core::Result<Tensor> {
        crate::model::Gpt::hidden(self, ids)
    }
    fn head(&self, hidden: &Tensor) -> candle_core::Result<Tensor> {
        crate::model::Gpt::head(self, hidden)
    }
    fn context(&self) -> usize {
        self.config.n_positions
    }
    fn device(&self) -> Device {
        Device::Cpu
    }
}

impl Scorer for crate::decoder::Decoder {
    fn hidden(&self, ids: &Tensor) -> candle_core::Result<Tensor> {
        crate::decoder::Decoder::hidden(self, ids)
    }
    fn head(&self, hidden: &Tensor) -> candle_core::Result<Tensor> {
        crate::decoder::Decoder::head(self, hidden)
    }
    fn context(&self) -> usize {
        crate::decoder::Decoder::context(self)
    }
    fn device(&self) -> Device {
        crate::decoder::Decoder::device(self)
    }
}

/// A batch as tensors: `ids` `[batch, time]` (u32); `positions` `[k]`, the flat indices (into
/// `batch × (time − 1)`) of the positions that predict a scored token; `targets` `[k]`, those
/// tokens; `owners` `[batch, k]`, 1.0 where position `j` belongs to sequence `i`.
pub struct Batch {
    pub ids: Tensor,
    positions: Tensor,
    targets: Tensor,
    owners: Tensor,
    /// How many tokens are scored (`k`).
    pub scored: usize,
}

impl Batch {
    /// `sequences` padded with `pad` to one length, as tensors on `device` (the model's).
    pub fn new(sequences: &[&Sequence], pad: u32, device: &Device) -> candle_core::Result<Batch> {
        let t = sequences
            .iter()
            .map(|s| s.ids.len())
            .max()
            .unwrap_or(1)
            .max(2);
        let b = sequences.len();
        let mut ids = Vec::with_capacity(b * t);
        let (mut positions, mut targets, mut owner_of) = (Vec::new(), Vec::new(), Vec::new());
        for (i, s) in sequences.iter().enumerate() {
            ids.extend(s.ids.iter().copied());
            ids.extend(std::iter::repeat_n(pad, t - s.ids.len()));
            // Position p predicts token p + 1.
            for p in 0..s.ids.len().saturating_sub(1) {
                if s.scored[p + 1] {
                    positions.push((i * (t - 1) + p) as u32);
                    targets.push(s.ids[p + 1]);
                    owner_of.push(i);
                }
            }
        }
        let k = positions.len();
        let mut owners = vec![0.0f32; b * k];
        for (j, i) in owner_of.into_iter().enumerate() {
            owners[i * k + j] = 1.0;
        }
        Ok(Batch {
            ids: Tensor::from_vec(ids, (b, t), device)?,
            positions: Tensor::from_vec(positions, k, device)?,
            targets: Tensor::from_vec(targets, (k, 1), device)?,
            owners: Tensor::from_vec(owners, (b, k), device)?,
            scored: k,
        })
    }
}

/// Each sequence's summed log-probability of its scored tokens, `[batch]`.
pub fn log_likelihoods(model: &dyn Scorer, batch: &Batch) -> candle_core::Result<Tensor> {
    let (b, t) = batch.ids.dims2()?;
    if batch.scored == 0 {
        return Tensor::zeros(b, candle_core::DType::F32, batch.ids.device());
    }
    let hidden = model.hidden(&batch.ids)?;
    let n = hidden.dim(D::Minus1)?;
    let predicting = hidden
        .narrow(1, 0, t - 1)?
        .reshape((b * (t - 1), n))?
        .index_select(&batch.positions, 0)?;
    let log_probs = candle_nn::ops::log_softmax(&model.head(&predicting)?, D::Minus1)?;
    let picked = log_probs.gather(&batch.targets, 1)?;
    batch.owners.matmul(&picked)?.squeeze(1)
}

/// The summed cross-entropy of the batch's scored tokens (a scalar tensor, differentiable) and how many
/// tokens were scored.
pub fn cross_entropy(model: &dyn Scorer, batch: &Batch) -> candle_core::Result<(Tensor, usize)> {
    let per_sequence = log_likelihoods(model, batch)?;
    Ok((per_sequence.sum_all()?.neg()?, batch.scored))
}
