//! Operations fused for scoring, each one pass over its input where candle's would make several, with
//! a tensor between each. No gradient: training takes the differentiable path.
//! - `CausalSoftmax`: a causal decoder's attention weights: scale, soft-cap (Gemma 2), the causal and
//!   sliding-window mask and the softmax together, over the visible positions only. It computes what
//!   `scores · scale → softcap → + mask → softmax` computes, without the mask tensor, the intermediate
//!   tensors and the exponentials of masked positions.
//! - `SiluGate`: the gated MLP's `silu(gate) · up`.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Shape};

/// Scores `[.., t, t]` (query position, key position) → attention weights of the same shape.
pub struct CausalSoftmax {
    pub scale: f64,
    pub softcap: Option<f64>,
    pub window: Option<usize>,
}

impl CustomOp1 for CausalSoftmax {
    fn name(&self) -> &'static str {
        "causal-softmax"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let CpuStorage::F32(data) = storage else {
            candle_core::bail!("causal-softmax reads f32 scores");
        };
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("causal-softmax reads contiguous scores");
        };
        let dims = layout.shape().dims();
        let t = dims[dims.len() - 1];
        if dims.len() < 2 || dims[dims.len() - 2] != t {
            candle_core::bail!("causal-softmax reads square score matrices, not {dims:?}");
        }
        let scores = &data[start..end];
        let mut weights = vec![0f32; scores.len()];
        let (scale, softcap) = (self.scale as f32, self.softcap.map(|c| c as f32));
        for (r, (row, out)) in scores.chunks(t).zip(weights.chunks_mut(t)).enumerate() {
            let i = r % t;
            let first = self.window.map_or(0, |w| (i + 1).saturating_sub(w));
            let visible = &row[first..=i];
            let out = &mut out[first..=i];
            let mut max = f32::NEG_INFINITY;
            for (s, o) in visible.iter().zip(out.iter_mut()) {
                let mut x = s * scale;
                if let Some(cap) = softcap {
                    x = (x / cap).tanh() * cap;
                }
                *o = x;
                max = max.max(x);
            }
            let mut sum = 0f32;
            for o in out.iter_mut() {
                *o = (*o - max).exp();
                sum += *o;
            }
            for o in out.iter_mut() {
                *o /= sum;
            }
        }
        Ok((CpuStorage::F32(weights), layout.shape().clone()))
    }
}

/// `silu(gate) · up` for contiguous f32 `gate` and `up` of one shape: `gate / (1 + e^(−gate)) · up`,
/// as candle's `silu` and product compute it.
pub struct SiluGate;

impl CustomOp2 for SiluGate {
    fn name(&self) -> &'static str {
        "silu-gate"
    }

    fn cpu_fwd(
        &self,
        gate: &CpuStorage,
        gate_layout: &Layout,
        up: &CpuStorage,
        up_layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (CpuStorage::F32(gate), CpuStorage::F32(up)) = (gate, up) else {
            candle_core::bail!("silu-gate reads f32");
        };
        let (Some((g0, g1)), Some((u0, u1))) = (
            gate_layout.contiguous_offsets(),
            up_layout.contiguous_offsets(),
        ) else {
            candle_core::bail!("silu-gate reads contiguous tensors");
        };
        if gate_layout.shape() != up_layout.shape() {
            candle_core::bail!("silu-gate reads two tensors of one shape");
        }
        let out = gate[g0..g1]
            .iter()
            .zip(&up[u0..u1])
            .map(|(g, u)| g / (1.0 + (-g).exp()) * u)
            .collect();
        Ok((CpuStorage::F32(out), gate_layout.shape().clone()))
    }
}
