//! Token losses over batches of sequences: the cross-entropy of each scored token given the tokens
//! before it. Sequences of a batch are padded at their end; a causal model never looks ahead, so the
//! padding changes nothing before it and is not scored.

use candle_core::{D, DType, Device, Tensor};

use crate::model::Gpt;
use crate::text::Sequence;

/// A batch as tensors: `ids` `[batch, time]` (u32) and `scored` `[batch, time]` (1.0 where the token
/// is scored).
pub struct Batch {
    pub ids: Tensor,
    pub scored: Tensor,
}

impl Batch {
    pub fn new(sequences: &[&Sequence], pad: u32) -> candle_core::Result<Batch> {
        let t = sequences.iter().map(|s| s.ids.len()).max().unwrap_or(1);
        let b = sequences.len();
        let mut ids = Vec::with_capacity(b * t);
        let mut scored = Vec::with_capacity(b * t);
        for s in sequences {
            ids.extend(s.ids.iter().copied());
            ids.extend(std::iter::repeat_n(pad, t - s.ids.len()));
            scored.extend(s.scored.iter().map(|&on| if on { 1.0f32 } else { 0.0 }));
            scored.extend(std::iter::repeat_n(0.0f32, t - s.ids.len()));
        }
        Ok(Batch {
            ids: Tensor::from_vec(ids, (b, t), &Device::Cpu)?,
            scored: Tensor::from_vec(scored, (b, t), &Device::Cpu)?,
        })
    }
}

/// Each sequence's summed log-probability of its scored tokens `[batch]`, and the scored-token mask
/// of the targets `[batch, time − 1]`.
pub fn log_likelihoods(model: &Gpt, batch: &Batch) -> candle_core::Result<(Tensor, Tensor)> {
    let (_, t) = batch.ids.dims2()?;
    if t < 2 {
        candle_core::bail!("a sequence needs at least two tokens to score one");
    }
    let logits = model.forward(&batch.ids)?.narrow(1, 0, t - 1)?;
    let targets = batch.ids.narrow(1, 1, t - 1)?.contiguous()?;
    let mask = batch.scored.narrow(1, 1, t - 1)?;
    let log_probs = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
    let picked = log_probs.gather(&targets.unsqueeze(2)?, 2)?.squeeze(2)?;
    Ok(((picked * &mask)?.sum(1)?, mask))
}

/// The summed cross-entropy of the batch's scored tokens (a scalar tensor, differentiable) and how many
/// tokens were scored.
pub fn cross_entropy(model: &Gpt, batch: &Batch) -> candle_core::Result<(Tensor, usize)> {
    let (per_sequence, mask) = log_likelihoods(model, batch)?;
    let tokens = mask.sum_all()?.to_dtype(DType::F32)?.to_scalar::<f32>()? as usize;
    Ok((per_sequence.sum_all()?.neg()?, tokens))
}
