//! The decoder families customers pick: Llama 3.x, Mistral, Qwen2/2.5, Qwen3, Gemma 2 and Phi-3, read
//! from the Hugging Face layout with their tensor names. They are one architecture with settings
//! (`config::Layout`): pre-norm blocks of grouped-query attention with rotary positions and a gated
//! MLP, RMS norms, a head (tied or not).
//!
//! Written here on candle's tensors and kernels rather than taken from `candle-transformers`, whose
//! causal-LM forwards return the last position's logits only, keep a KV cache behind `&mut self`, and
//! (Qwen2) drop the causal mask when given a padding mask: scoring needs every position's logits over
//! batches, from several threads at once. The agreement with `transformers` is measured by
//! `bench/agreement.py`.

pub mod config;
mod fused;

use candle_core::{DType, Device, Tensor, Var};

use crate::Error;
use crate::weights::Weights;
use config::{Activation, Layout, Rotary};

/// A linear projection in `transformers`' layout: `y = x · Wᵀ + b`, `W` `[out, in]`; with a LoRA
/// adapter being trained, plus `s · (x · Aᵀ) · Bᵀ` (PEFT's layout: `A` `[r, in]`, `B` `[out, r]`).
#[derive(Clone, Debug)]
struct Projection {
    /// Its module path (`model.layers.0.self_attn.q_proj`), as adapters name it.
    name: String,
    weight: Tensor,
    bias: Option<Tensor>,
    lora: Option<Lora>,
}

#[derive(Clone, Debug)]
struct Lora {
    a: Tensor,
    b: Tensor,
    scale: f64,
}

impl Projection {
    fn read(
        weights: &Weights,
        name: &str,
        outputs: usize,
        inputs: usize,
        bias: bool,
    ) -> Result<Projection, Error> {
        Ok(Projection {
            name: name.to_string(),
            weight: weights.take(&format!("{name}.weight"), &[outputs, inputs])?,
            bias: if bias {
                Some(weights.take(&format!("{name}.bias"), &[outputs])?)
            } else {
                None
            },
            lora: None,
        })
    }

    /// `x` `[rows, in]` → `[rows, out]`.
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let mut y = x.matmul(&self.weight.t()?)?;
        if let Some(lora) = &self.lora {
            y = (y + (x.matmul(&lora.a.t()?)?.matmul(&lora.b.t()?)? * lora.scale)?)?;
        }
        match &self.bias {
            Some(bias) => y.broadcast_add(bias),
            None => Ok(y),
        }
    }

    /// Adds an adapter of `rank`, `A` seeded as PEFT seeds it (Kaiming-uniform) and `B` zero; its
    /// variables.
    fn add_lora(
        &mut self,
        rank: usize,
        scale: f64,
        rng: &mut impl rand::Rng,
    ) -> candle_core::Result<Vec<Var>> {
        let (outputs, inputs) = self.weight.dims2()?;
        let bound = 1.0 / (inputs as f64).sqrt();
        let values: Vec<f32> = (0..rank * inputs)
            .map(|_| rng.random_range(-bound..bound) as f32)
            .collect();
        let a = Var::from_tensor(&Tensor::from_vec(values, (rank, inputs), &Device::Cpu)?)?;
        let b = Var::zeros((outputs, rank), DType::F32, &Device::Cpu)?;
        self.lora = Some(Lora {
            a: a.as_tensor().clone(),
            b: b.as_tensor().clone(),
            scale,
        });
        Ok(vec![a, b])
    }
}

/// An RMS norm; Gemma's multiplies by (1 + w), stored here already added.
#[derive(Clone, Debug)]
struct Norm {
    scale: Tensor,
    eps: f32,
}

impl Norm {
    fn read(weights: &Weights, name: &str, size: usize, layout: &Layout) -> Result<Norm, Error> {
        let weight = weights.take(&format!("{name}.weight"), &[size])?;
        let scale = if layout.gemma {
            (weight + 1.0).map_err(Error::tensor)?
        } else {
            weight
        };
        Ok(Norm {
            scale,
            eps: layout.eps as f32,
        })
    }

    /// The fused kernel, or (`differentiable`) basic operations that carry gradients.
    fn forward(&self, x: &Tensor, differentiable: bool) -> candle_core::Result<Tensor> {
        if differentiable {
            candle_nn::ops::rms_norm_slow(x, &self.scale, self.eps)
        } else {
            candle_nn::ops::rms_norm(&x.contiguous()?, &self.scale, self.eps)
        }
    }
}

#[derive(Clone, Debug)]
struct Attention {
    /// Separate query, key and value projections, or one fused (Phi-3).
    qkv: Vec<Projection>,
    output: Projection,
    q_norm: Option<Norm>,
    k_norm: Option<Norm>,
}

#[derive(Clone, Debug)]
struct Mlp {
    /// Gate and up, or one fused (Phi-3).
    gate_up: Vec<Projection>,
    down: Projection,
}

#[derive(Clone, Debug)]
struct Layer {
    input_norm: Norm,
    attention: Attention,
    /// Gemma 2: the norm of the attention's output.
    post_attention_norm: Option<Norm>,
    /// The norm before the MLP (`post_attention_layernorm`, or Gemma's `pre_feedforward_layernorm`).
    mlp_norm: Norm,
    mlp: Mlp,
    /// Gemma 2: the norm of the MLP's output.
    post_mlp_norm: Option<Norm>,
    window: Option<usize>,
}

/// A decoder whose every weight is a variable, for training all of them, with the variables by name.
pub struct Trainable {
    pub decoder: Decoder,
    pub vars: Vec<(String, Var)>,
}

impl Trainable {
    /// A decoder of `layout` whose weights start as `initial` gives them (name, shape), as variables.
    pub fn new(
        layout: Layout,
        mut initial: impl FnMut(&str, &[usize]) -> Result<Tensor, Error>,
    ) -> Result<Trainable, Error> {
        let mut vars = Vec::new();
        let mut tensors = std::collections::HashMap::new();
        for (name, shape) in Decoder::shapes(&layout) {
            let var = Var::from_tensor(&initial(&name, &shape)?).map_err(Error::tensor)?;
            tensors.insert(name.clone(), var.as_tensor().clone());
            vars.push((name, var));
        }
        let decoder = Decoder::new(layout, &Weights::from_tensors(tensors, "a trainable model"))?;
        Ok(Trainable {
            decoder: decoder.differentiable(),
            vars,
        })
    }

    pub fn variables(&self) -> Vec<Var> {
        self.vars.iter().map(|(_, var)| var.clone()).collect()
    }

    /// Writes the weights as they stand into the safetensors file `path`.
    pub fn save(&self, path: &std::path::Path) -> Result<(), Error> {
        let tensors = self
            .vars
            .iter()
            .map(|(name, var)| (name.clone(), var.as_tensor().clone()));
        crate::weights::save(tensors, path)
    }
}

/// A loaded decoder, ready to score.
#[derive(Clone, Debug)]
pub struct Decoder {
    pub layout: Layout,
    embedding: Tensor,
    layers: Vec<Layer>,
    norm: Norm,
    /// `[vocab, hidden]`: the head, or the embedding when they are tied.
    head: Tensor,
    /// Whether gradients flow through every operation (training), or fused kernels run (scoring).
    differentiable: bool,
}

impl Decoder {
    /// Builds the decoder of `layout` from `weights` (`transformers`' tensor names).
    pub fn new(layout: Layout, weights: &Weights) -> Result<Decoder, Error> {
        let l = &layout;
        let (hidden, hd) = (l.hidden, l.head_dim);
        let (q_size, kv_size) = (l.heads * hd, l.kv_heads * hd);
        let embedding = weights.take("model.embed_tokens.weight", &[l.vocab_size, hidden])?;
        let mut layers = Vec::with_capacity(l.layers);
        for i in 0..l.layers {
            let p = format!("model.layers.{i}");
            let projection = |name: &str, outputs: usize, inputs: usize, bias: bool| {
                Projection::read(weights, &format!("{p}.{name}"), outputs, inputs, bias)
            };
            let norm =
                |name: &str, size: usize| Norm::read(weights, &format!("{p}.{name}"), size, l);
            let (qkv, gate_up) = if l.fused {
                (
                    vec![projection(
                        "self_attn.qkv_proj",
                        q_size + 2 * kv_size,
                        hidden,
                        false,
                    )?],
                    vec![projection(
                        "mlp.gate_up_proj",
                        2 * l.intermediate,
                        hidden,
                        false,
                    )?],
                )
            } else {
                (
                    vec![
                        projection("self_attn.q_proj", q_size, hidden, l.qkv_bias)?,
                        projection("self_attn.k_proj", kv_size, hidden, l.qkv_bias)?,
                        projection("self_attn.v_proj", kv_size, hidden, l.qkv_bias)?,
                    ],
                    vec![
                        projection("mlp.gate_proj", l.intermediate, hidden, l.mlp_bias)?,
                        projection("mlp.up_proj", l.intermediate, hidden, l.mlp_bias)?,
                    ],
                )
            };
            layers.push(Layer {
                input_norm: norm("input_layernorm", hidden)?,
                attention: Attention {
                    qkv,
                    output: projection("self_attn.o_proj", hidden, q_size, l.output_bias)?,
                    q_norm: l
                        .qk_norm
                        .then(|| norm("self_attn.q_norm", hd))
                        .transpose()?,
                    k_norm: l
                        .qk_norm
                        .then(|| norm("self_attn.k_norm", hd))
                        .transpose()?,
                },
                post_attention_norm: l
                    .gemma
                    .then(|| norm("post_attention_layernorm", hidden))
                    .transpose()?,
                mlp_norm: if l.gemma {
                    norm("pre_feedforward_layernorm", hidden)?
                } else {
                    norm("post_attention_layernorm", hidden)?
                },
                mlp: Mlp {
                    gate_up,
                    down: projection("mlp.down_proj", hidden, l.intermediate, l.mlp_bias)?,
                },
                post_mlp_norm: l
                    .gemma
                    .then(|| norm("post_feedforward_layernorm", hidden))
                    .transpose()?,
                window: l.windows[i],
            });
        }
        let head = if l.tied {
            embedding.clone()
        } else {
            weights.take("lm_head.weight", &[l.vocab_size, hidden])?
        };
        Ok(Decoder {
            norm: Norm::read(weights, "model.norm", hidden, l)?,
            embedding,
            layers,
            head,
            layout,
            differentiable: false,
        })
    }

    /// Every tensor a decoder of `layout` reads, with its shape, in `transformers`' names.
    pub fn shapes(l: &Layout) -> Vec<(String, Vec<usize>)> {
        let (hidden, hd) = (l.hidden, l.head_dim);
        let (q_size, kv_size) = (l.heads * hd, l.kv_heads * hd);
        let mut out = vec![
            (
                "model.embed_tokens.weight".to_string(),
                vec![l.vocab_size, hidden],
            ),
            ("model.norm.weight".to_string(), vec![hidden]),
        ];
        if !l.tied {
            out.push(("lm_head.weight".to_string(), vec![l.vocab_size, hidden]));
        }
        for i in 0..l.layers {
            let p = format!("model.layers.{i}");
            let mut projection = |name: &str, outputs: usize, inputs: usize, bias: bool| {
                out.push((format!("{p}.{name}.weight"), vec![outputs, inputs]));
                if bias {
                    out.push((format!("{p}.{name}.bias"), vec![outputs]));
                }
            };
            if l.fused {
                projection("self_attn.qkv_proj", q_size + 2 * kv_size, hidden, false);
                projection("mlp.gate_up_proj", 2 * l.intermediate, hidden, false);
            } else {
                projection("self_attn.q_proj", q_size, hidden, l.qkv_bias);
                projection("self_attn.k_proj", kv_size, hidden, l.qkv_bias);
                projection("self_attn.v_proj", kv_size, hidden, l.qkv_bias);
                projection("mlp.gate_proj", l.intermediate, hidden, l.mlp_bias);
                projection("mlp.up_proj", l.intermediate, hidden, l.mlp_bias);
            }
            projection("self_attn.o_proj", hidden, q_size, l.output_bias);
            projection("mlp.down_proj", hidden, l.intermediate, l.mlp_bias);
            let mut norms = vec![
                ("input_layernorm", hidden),
                ("post_attention_layernorm", hidden),
            ];
            if l.gemma {
                norms.extend([
                    ("pre_feedforward_layernorm", hidden),
                    ("post_feedforward_layernorm", hidden),
                ]);
            }
            if l.qk_norm {
                norms.extend([("self_attn.q_norm", hd), ("self_attn.k_norm", hd)]);
            }
            for (name, size) in norms {
                out.push((format!("{p}.{name}.weight"), vec![size]));
            }
        }
        out
    }

    /// Gradients through every operation, for training every weight (the weights must be variables).
    pub fn differentiable(mut self) -> Decoder {
        self.differentiable = true;
        self
    }

    /// Adds LoRA adapters of `rank` and scale `alpha / rank` to every attention and MLP projection,
    /// seeded; their variables, the only weights a LoRA fine-tune changes.
    pub fn add_lora(&mut self, rank: usize, alpha: f64, seed: u64) -> Result<Vec<Var>, Error> {
        if rank == 0 {
            return Err(Error::Input("the LoRA rank is at least 1".into()));
        }
        if self.layout.fused {
            return Err(Error::Input(
                "the reference recipe trains LoRA on separate projections; this family fuses them"
                    .into(),
            ));
        }
        self.differentiable = true;
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed);
        let mut vars = Vec::new();
        for projection in self.projections_mut() {
            vars.extend(
                projection
                    .add_lora(rank, alpha / rank as f64, &mut rng)
                    .map_err(Error::tensor)?,
            );
        }
        Ok(vars)
    }

    /// The adapters' matrices in PEFT's names (`base_model.model.<module>.lora_A.weight`), and the
    /// projections they adapt (`q_proj`, …).
    pub fn adapter_tensors(&self) -> (Vec<(String, Tensor)>, Vec<String>) {
        let mut tensors = Vec::new();
        let mut targets: Vec<String> = Vec::new();
        for layer in &self.layers {
            let projections = layer.attention.qkv.iter().chain([&layer.attention.output]);
            let projections = projections
                .chain(&layer.mlp.gate_up)
                .chain([&layer.mlp.down]);
            for projection in projections {
                if let Some(lora) = &projection.lora {
                    let module = &projection.name;
                    tensors.push((
                        format!("base_model.model.{module}.lora_A.weight"),
                        lora.a.clone(),
                    ));
                    tensors.push((
                        format!("base_model.model.{module}.lora_B.weight"),
                        lora.b.clone(),
                    ));
                    let target = module.rsplit('.').next().unwrap_or(module).to_string();
                    if !targets.contains(&target) {
                        targets.push(target);
                    }
                }
            }
        }
        (tensors, targets)
    }

    fn projections_mut(&mut self) -> impl Iterator<Item = &mut Projection> {
        self.layers.iter_mut().flat_map(|layer| {
            let attention = layer
                .attention
                .qkv
                .iter_mut()
                .chain([&mut layer.attention.output]);
            attention
                .chain(layer.mlp.gate_up.iter_mut())
                .chain([&mut layer.mlp.down])
        })
    }

    /// The longest sequence it scores.
    pub fn context(&self) -> usize {
        self.layout.context
    }

    /// Where its weights are.
    pub fn device(&self) -> Device {
        self.embedding.device().clone()
    }

    /// Logits `[rows, vocab]` for final hidden states `[rows, hidden]`, soft-capped where the family
    /// caps them (Gemma 2).
    pub fn head(&self, hidden: &Tensor) -> candle_core::Result<Tensor> {
        let logits = hidden.matmul(&self.head.t()?)?;
        match self.layout.final_softcap {
            Some(cap) => (logits / cap)?.tanh()? * cap,
            None => Ok(logits),
        }
    }

    /// The final hidden states `[batch, time, hidden]` (after the last norm) for token ids
    /// `[batch, time]`. Sequences are padded at their end: a causal model never looks ahead.
    pub fn hidden(&self, ids: &Tensor) -> candle_core::Result<Tensor> {
        let (b, t) = ids.dims2()?;
        let l = &self.layout;
        let mut x = self
            .embedding
            .index_select(&ids.flatten_all()?, 0)?
            .reshape((b, t, l.hidden))?;
        if l.gemma {
            // `transformers` rounds √hidden to the weights' dtype; in f32 that is this.
            x = (x * f64::from((l.hidden as f32).sqrt()))?;
        }
        let (cos, sin) = rotary(&l.rotary, t, ids.device())?;
        // Scoring on the CPU masks inside its fused softmax (`attention`); training, and scoring on a
        // GPU (the fused operations are CPU kernels), add the masks as tensors.
        let full = if self.differentiable || !ids.device().is_cpu() {
            Some(mask(t, None, ids.device())?)
        } else {
            None
        };
        let mut windowed = None;
        for layer in &self.layers {
            let mask = match (&full, layer.window) {
                (None, _) => None,
                (Some(_), Some(w)) if w < t => Some(
                    windowed
                        .get_or_insert(mask(t, Some(w), ids.device())?)
                        .clone(),
                ),
                (Some(full), _) => Some(full.clone()),
            };
            x = layer.forward(&x, mask.as_ref(), (&cos, &sin), l, self.differentiable)?;
        }
        self.norm.forward(&x, self.differentiable)
    }
}

impl Layer {
    /// `mask`: the layer's mask as a tensor, when training; scoring masks in its fused softmax.
    fn forward(
        &self,
        x: &Tensor,
        mask: Option<&Tensor>,
        rotary: (&Tensor, &Tensor),
        l: &Layout,
        d: bool,
    ) -> candle_core::Result<Tensor> {
        let (b, t, hidden) = x.dims3()?;
        let rows = x.reshape((b * t, hidden))?;
        let normed = self.input_norm.forward(&rows, d)?;
        let mask = match mask {
            Some(mask) => Mask::Tensor(mask),
            None => Mask::Causal(self.window),
        };
        let mut attended = self
            .attention
            .forward(&normed, (b, t), mask, rotary, l, d)?;
        if let Some(norm) = &self.post_attention_norm {
            attended = norm.forward(&attended, d)?;
        }
        let rows = (rows + attended)?;
        let mut mixed = self.mlp.forward(&self.mlp_norm.forward(&rows, d)?, l, d)?;
        if let Some(norm) = &self.post_mlp_norm {
            mixed = norm.forward(&mixed, d)?;
        }
        (rows + mixed)?.reshape((b, t, hidden))
    }
}

/// How attention is masked: in the fused softmax of scoring (causal, within the layer's window), or
/// by a mask tensor added to the scores (training, whose operations carry gradients).
enum Mask<'a> {
    Causal(Option<usize>),
    Tensor(&'a Tensor),
}

impl Attention {
    /// `x` `[batch · time, hidden]` (normed) → `[batch · time, hidden]`.
    fn forward(
        &self,
        x: &Tensor,
        (b, t): (usize, usize),
        mask: Mask,
        (cos, sin): (&Tensor, &Tensor),
        l: &Layout,
        d: bool,
    ) -> candle_core::Result<Tensor> {
        let hd = l.head_dim;
        let (q_size, kv_size) = (l.heads * hd, l.kv_heads * hd);
        let (q, k, v) = match self.qkv.as_slice() {
            [fused] => {
                let qkv = fused.forward(x)?;
                (
                    qkv.narrow(1, 0, q_size)?,
                    qkv.narrow(1, q_size, kv_size)?,
                    qkv.narrow(1, q_size + kv_size, kv_size)?,
                )
            }
            [q, k, v] => (q.forward(x)?, k.forward(x)?, v.forward(x)?),
            _ => candle_core::bail!("an attention has one or three input projections"),
        };
        // [batch, heads, time, head_dim]
        let heads = |x: Tensor, n: usize, norm: Option<&Norm>| -> candle_core::Result<Tensor> {
            let mut x = x.reshape((b, t, n, hd))?;
            if let Some(norm) = norm {
                x = norm.forward(&x, d)?;
            }
            x.transpose(1, 2)?.contiguous()
        };
        let rope = |x: &Tensor| {
            if d {
                candle_nn::rotary_emb::rope_slow(x, cos, sin)
            } else {
                candle_nn::rotary_emb::rope(x, cos, sin)
            }
        };
        let q = rope(&heads(q, l.heads, self.q_norm.as_ref())?)?;
        let k = rope(&heads(k, l.kv_heads, self.k_norm.as_ref())?)?;
        let v = heads(v, l.kv_heads, None)?;
        // Grouped-query attention without copying keys and values: the queries of each key-value head
        // as one longer matrix.
        let group = l.heads / l.kv_heads;
        let q = q.reshape((b, l.kv_heads, group * t, hd))?;
        let scores = q.matmul(&k.t()?)?;
        let weights = match mask {
            Mask::Causal(window) => scores
                .reshape((b, l.heads, t, t))?
                .apply_op1_no_bwd(&fused::CausalSoftmax {
                    scale: l.attention_scale,
                    softcap: l.attention_softcap,
                    window,
                })?
                .reshape((b, l.kv_heads, group * t, t))?,
            Mask::Tensor(mask) => {
                let mut scores = (scores * l.attention_scale)?;
                if let Some(cap) = l.attention_softcap {
                    scores = ((scores / cap)?.tanh()? * cap)?;
                }
                let scores = scores.reshape((b, l.heads, t, t))?.broadcast_add(mask)?;
                candle_nn::ops::softmax(&scores, candle_core::D::Minus1)?.reshape((
                    b,
                    l.kv_heads,
                    group * t,
                    t,
                ))?
            }
        };
        let mixed = weights
            .matmul(&v)?
            .reshape((b, l.heads, t, hd))?
            .transpose(1, 2)?
            .reshape((b * t, q_size))?;
        self.output.forward(&mixed)
    }
}

impl Mlp {
    fn forward(&self, x: &Tensor, l: &Layout, d: bool) -> candle_core::Result<Tensor> {
        let (gate, up) = match self.gate_up.as_slice() {
            [fused] => {
                let both = fused.forward(x)?;
                (
                    both.narrow(1, 0, l.intermediate)?,
                    both.narrow(1, l.intermediate, l.intermediate)?,
                )
            }
            [gate, up] => (gate.forward(x)?, up.forward(x)?),
            _ => candle_core::bail!("an MLP has one or two input projections"),
        };
        let fusable = !d && gate.device().is_cpu() && gate.is_contiguous() && up.is_contiguous();
        let gated = match l.activation {
            Activation::Silu if fusable => gate.apply_op2_no_bwd(&up, &fused::SiluGate)?,
            Activation::Silu => (candle_nn::ops::silu(&gate)? * up)?,
            Activation::GeluTanh => (gate.gelu()? * up)?,
            Activation::Gelu => (gate.gelu_erf()? * up)?,
        };
        self.down.forward(&gated)
    }
}

/// The rotary tables for positions `0..t`: cos and sin `[t, head_dim / 2]`.
fn rotary(rotary: &Rotary, t: usize, device: &Device) -> candle_core::Result<(Tensor, Tensor)> {
    let frequencies = rotary.frequencies_for(t);
    // f32 products, as `transformers` computes them.
    let angles: Vec<f32> = (0..t)
        .flat_map(|p| frequencies.iter().map(move |f| p as f32 * *f as f32))
        .collect();
    let angles = Tensor::from_vec(angles, (t, frequencies.len()), device)?;
    if rotary.scale == 1.0 {
        return Ok((angles.cos()?, angles.sin()?));
    }
    Ok((
        (angles.cos()? * rotary.scale)?,
        (angles.sin()? * rotary.scale)?,
    ))
}

/// `[t, t]`: 0 where position i may look at j (j ≤ i, and i − j < window), −∞ elsewhere.
fn mask(t: usize, window: Option<usize>, device: &Device) -> candle_core::Result<Tensor> {
    let mask: Vec<f32> = (0..t)
        .flat_map(|i| {
            (0..t).map(move |j| {
                let visible = j <= i && window.is_none_or(|w| i - j < w);
                if visible { 0.0 } else { f32::NEG_INFINITY }
            })
        })
        .collect();
    Tensor::from_vec(mask, (t, t), device)
}
