//! The model: GPT-2's architecture with GPT-2's tensor names (`transformer.h.0.attn.c_attn.weight`, …),
//! so the weights in `model.safetensors` mean the same to `transformers` and to this code. Token and
//! position embeddings, pre-norm blocks of causal self-attention and a GELU MLP, a final layer norm and
//! a head tied to the token embedding. Linear layers keep GPT-2's `Conv1D` layout: weight `[in, out]`.

use std::path::Path;

use candle_core::{D, DType, Device, Module, Tensor, Var};
use candle_nn::{LayerNorm, VarBuilder, VarMap};
use rand::{Rng, SeedableRng};

use crate::Error;
use crate::config::Config;

/// GPT-2's `Conv1D`: `x · W + b` with `W` stored `[in, out]`; with a LoRA adapter, plus
/// `(x · A) · B · scale`.
#[derive(Clone, Debug)]
struct Linear {
    weight: Tensor,
    bias: Tensor,
    lora: Option<Lora>,
}

/// A low-rank adapter: `A` `[in, rank]`, `B` `[rank, out]`, starting at zero (`B` = 0).
#[derive(Clone, Debug)]
struct Lora {
    a: Tensor,
    b: Tensor,
    scale: f64,
}

impl Linear {
    fn new(vb: VarBuilder, inputs: usize, outputs: usize) -> candle_core::Result<Linear> {
        Ok(Linear {
            weight: vb.get((inputs, outputs), "weight")?,
            bias: vb.get(outputs, "bias")?,
            lora: None,
        })
    }

    /// `x` `[batch, time, in]` as one `[batch · time, in]` matrix product, not a batch of small ones.
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (b, t, inputs) = x.dims3()?;
        let rows = x.reshape((b * t, inputs))?;
        let mut y = rows.matmul(&self.weight)?.broadcast_add(&self.bias)?;
        if let Some(lora) = &self.lora {
            y = (y + (rows.matmul(&lora.a)?.matmul(&lora.b)? * lora.scale)?)?;
        }
        y.reshape((b, t, ()))
    }

    /// Adds an adapter of `rank`; its variables, to train.
    fn add_lora(
        &mut self,
        rank: usize,
        alpha: f64,
        rng: &mut impl Rng,
    ) -> candle_core::Result<Vec<Var>> {
        let (inputs, outputs) = self.weight.dims2()?;
        let values: Vec<f32> = (0..inputs * rank)
            .map(|_| normal(rng) / (inputs as f32).sqrt())
            .collect();
        let a = Var::from_tensor(&Tensor::from_vec(values, (inputs, rank), &Device::Cpu)?)?;
        let b = Var::zeros((rank, outputs), DType::F32, &Device::Cpu)?;
        self.lora = Some(Lora {
            a: a.as_tensor().clone(),
            b: b.as_tensor().clone(),
            scale: alpha / rank as f64,
        });
        Ok(vec![a, b])
    }

    /// The weight with the adapter folded in: `W + A · B · scale`.
    fn merged_weight(&self) -> candle_core::Result<Tensor> {
        match &self.lora {
            None => Ok(self.weight.clone()),
            Some(lora) => &self.weight + (lora.a.matmul(&lora.b)? * lora.scale)?,
        }
    }
}

/// A layer norm with its weights at hand, to write them back out.
#[derive(Clone, Debug)]
struct Norm {
    norm: LayerNorm,
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

impl Norm {
    fn new(vb: VarBuilder, size: usize, eps: f64) -> candle_core::Result<Norm> {
        let weight = vb.get(size, "weight")?;
        let bias = vb.get(size, "bias")?;
        Ok(Norm {
            norm: LayerNorm::new(weight.clone(), bias.clone(), eps),
            weight,
            bias,
            eps,
        })
    }

    /// The fused kernel for inference; basic operations, which carry gradients, for training (candle's
    /// fused layer norm and softmax have no backward pass).
    fn forward(&self, x: &Tensor, differentiable: bool) -> candle_core::Result<Tensor> {
        if !differentiable {
            return self.norm.forward(x);
        }
        let mean = x.mean_keepdim(D::Minus1)?;
        let centred = x.broadcast_sub(&mean)?;
        let variance = centred.sqr()?.mean_keepdim(D::Minus1)?;
        centred
            .broadcast_div(&(variance + self.eps)?.sqrt()?)?
            .broadcast_mul(&self.weight)?
            .broadcast_add(&self.bias)
    }
}

#[derive(Clone, Debug)]
struct Block {
    ln_1: Norm,
    c_attn: Linear,
    attn_proj: Linear,
    ln_2: Norm,
    c_fc: Linear,
    mlp_proj: Linear,
    n_head: usize,
}

impl Block {
    fn new(vb: VarBuilder, config: &Config) -> candle_core::Result<Block> {
        let n = config.n_embd;
        let eps = config.layer_norm_epsilon;
        Ok(Block {
            ln_1: Norm::new(vb.pp("ln_1"), n, eps)?,
            c_attn: Linear::new(vb.pp("attn").pp("c_attn"), n, 3 * n)?,
            attn_proj: Linear::new(vb.pp("attn").pp("c_proj"), n, n)?,
            ln_2: Norm::new(vb.pp("ln_2"), n, eps)?,
            c_fc: Linear::new(vb.pp("mlp").pp("c_fc"), n, 4 * n)?,
            mlp_proj: Linear::new(vb.pp("mlp").pp("c_proj"), 4 * n, n)?,
            n_head: config.n_head,
        })
    }

    /// `x`: `[batch, time, n_embd]`; `mask`: `[time, time]`, 0 where a position may look, −∞ ahead.
    fn forward(
        &self,
        x: &Tensor,
        mask: &Tensor,
        differentiable: bool,
    ) -> candle_core::Result<Tensor> {
        let (b, t, n) = x.dims3()?;
        let head = n / self.n_head;
        let qkv = self
            .c_attn
            .forward(&self.ln_1.forward(x, differentiable)?)?;
        let split = |i: usize| -> candle_core::Result<Tensor> {
            qkv.narrow(D::Minus1, i * n, n)?
                .reshape((b, t, self.n_head, head))?
                .transpose(1, 2)?
                .contiguous()
        };
        let (q, k, v) = (split(0)?, split(1)?, split(2)?);
        let scores = (q.matmul(&k.t()?)? / (head as f64).sqrt())?.broadcast_add(mask)?;
        let attention = if differentiable {
            candle_nn::ops::softmax(&scores, D::Minus1)?
        } else {
            candle_nn::ops::softmax_last_dim(&scores)?
        };
        let mixed = attention.matmul(&v)?.transpose(1, 2)?.reshape((b, t, n))?;
        let x = (x + self.attn_proj.forward(&mixed)?)?;
        let hidden = self
            .c_fc
            .forward(&self.ln_2.forward(&x, differentiable)?)?
            .gelu()?;
        x + self.mlp_proj.forward(&hidden)?
    }
}

/// A loaded model, ready to compute logits.
#[derive(Clone, Debug)]
pub struct Gpt {
    pub config: Config,
    wte: Tensor,
    wpe: Tensor,
    blocks: Vec<Block>,
    ln_f: Norm,
    /// Whether gradients flow through every operation (training), or fused kernels run (inference).
    differentiable: bool,
}

impl Gpt {
    pub fn new(vb: VarBuilder, config: &Config) -> candle_core::Result<Gpt> {
        let vb = vb.pp("transformer");
        let n = config.n_embd;
        Ok(Gpt {
            wte: vb.get((config.vocab_size, n), "wte.weight")?,
            wpe: vb.get((config.n_positions, n), "wpe.weight")?,
            blocks: (0..config.n_layer)
                .map(|i| Block::new(vb.pp("h").pp(i.to_string()), config))
                .collect::<candle_core::Result<_>>()?,
            ln_f: Norm::new(vb.pp("ln_f"), n, config.layer_norm_epsilon)?,
            config: config.clone(),
            differentiable: false,
        })
    }

    /// The model in `dir` (`config.json`, `model.safetensors`), for inference.
    pub fn load(dir: &Path) -> Result<Gpt, Error> {
        let config = Config::read(dir)?;
        let weights = dir.join("model.safetensors");
        let tensors = candle_core::safetensors::load(&weights, &Device::Cpu)
            .map_err(|err| Error::Model(format!("{} cannot be read: {err}", weights.display())))?;
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu);
        Gpt::new(vb, &config).map_err(|err| Error::Model(format!("{}: {err}", weights.display())))
    }

    /// Adds LoRA adapters of `rank` to every linear layer of every block (attention and MLP),
    /// seeded; the adapters' variables, the only weights a LoRA fine-tune changes.
    pub fn add_lora(&mut self, rank: usize, alpha: f64, seed: u64) -> Result<Vec<Var>, Error> {
        if rank == 0 {
            return Err(Error::Input("the LoRA rank is at least 1".into()));
        }
        self.differentiable = true;
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut vars = Vec::new();
        for block in &mut self.blocks {
            for linear in [
                &mut block.c_attn,
                &mut block.attn_proj,
                &mut block.c_fc,
                &mut block.mlp_proj,
            ] {
                vars.extend(
                    linear
                        .add_lora(rank, alpha, &mut rng)
                        .map_err(Error::tensor)?,
                );
            }
        }
        Ok(vars)
    }

    /// Every weight by its GPT-2 name, adapters folded in.
    pub fn weights(&self) -> Result<Vec<(String, Tensor)>, Error> {
        let mut out = vec![
            ("transformer.wte.weight".to_string(), self.wte.clone()),
            ("transformer.wpe.weight".to_string(), self.wpe.clone()),
            (
                "transformer.ln_f.weight".to_string(),
                self.ln_f.weight.clone(),
            ),
            ("transformer.ln_f.bias".to_string(), self.ln_f.bias.clone()),
        ];
        for (i, block) in self.blocks.iter().enumerate() {
            let p = format!("transformer.h.{i}");
            for (name, norm) in [("ln_1", &block.ln_1), ("ln_2", &block.ln_2)] {
                out.push((format!("{p}.{name}.weight"), norm.weight.clone()));
                out.push((format!("{p}.{name}.bias"), norm.bias.clone()));
            }
            for (name, linear) in [
                ("attn.c_attn", &block.c_attn),
                ("attn.c_proj", &block.attn_proj),
                ("mlp.c_fc", &block.c_fc),
                ("mlp.c_proj", &block.mlp_proj),
            ] {
                out.push((
                    format!("{p}.{name}.weight"),
                    linear.merged_weight().map_err(Error::tensor)?,
                ));
                out.push((format!("{p}.{name}.bias"), linear.bias.clone()));
            }
        }
        Ok(out)
    }

    /// Writes `config.json` and `model.safetensors` (adapters folded in) into `dir`.
    pub fn save(&self, dir: &Path) -> Result<(), Error> {
        std::fs::create_dir_all(dir).map_err(|err| Error::io(dir, err))?;
        self.config.write(dir)?;
        let weights: std::collections::HashMap<String, Tensor> =
            self.weights()?.into_iter().collect();
        let path = dir.join("model.safetensors");
        candle_core::safetensors::save(&weights, &path)
            .map_err(|err| Error::Model(format!("{} cannot be written: {err}", path.display())))
    }

    /// Logits `[batch, time, vocab]` for token ids `[batch, time]`.
    pub fn forward(&self, ids: &Tensor) -> candle_core::Result<Tensor> {
        let hidden = self.hidden(ids)?;
        let (b, t, n) = hidden.dims3()?;
        self.head(&hidden.reshape((b * t, n))?)?
            .reshape((b, t, self.config.vocab_size))
    }

    /// Logits `[rows, vocab]` for final hidden states `[rows, n_embd]` (the head is the token
    /// embedding, transposed).
    pub fn head(&self, hidden: &Tensor) -> candle_core::Result<Tensor> {
        hidden.matmul(&self.wte.t()?)
    }

    /// The final hidden states `[batch, time, n_embd]` (after the last layer norm) for token ids
    /// `[batch, time]`.
    pub fn hidden(&self, ids: &Tensor) -> candle_core::Result<Tensor> {
        let (b, t) = ids.dims2()?;
        let n = self.config.n_embd;
        let tokens = self
            .wte
            .index_select(&ids.flatten_all()?, 0)?
            .reshape((b, t, n))?;
        let mut x = tokens.broadcast_add(&self.wpe.narrow(0, 0, t)?)?;
        let mask = causal_mask(t, ids.device())?;
        for block in &self.blocks {
            x = block.forward(&x, &mask, self.differentiable)?;
        }
        self.ln_f.forward(&x, self.differentiable)
    }
}

fn causal_mask(t: usize, device: &Device) -> candle_core::Result<Tensor> {
    let mask: Vec<f32> = (0..t)
        .flat_map(|i| (0..t).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 }))
        .collect();
    Tensor::from_vec(mask, (t, t), device)
}

/// A model whose weights are variables, for training; saved back as `model.safetensors`.
pub struct Trainable {
    pub model: Gpt,
    pub vars: VarMap,
}

impl Trainable {
    /// The model in `dir`, with its weights as variables.
    pub fn load(dir: &Path) -> Result<Trainable, Error> {
        let config = Config::read(dir)?;
        let trainable = Trainable::build(&config)?;
        let weights = dir.join("model.safetensors");
        let mut vars = trainable.vars;
        vars.load(&weights).map_err(|err| {
            Error::Model(format!("{} cannot be loaded: {err}", weights.display()))
        })?;
        Ok(Trainable {
            model: trainable.model,
            vars,
        })
    }

    /// A new model of `config`, initialised as GPT-2 is (normal(0, 0.02) weights, zero biases, unit
    /// norms) from `seed`: the same seed gives the same weights.
    pub fn initialise(config: &Config, seed: u64) -> Result<Trainable, Error> {
        let trainable = Trainable::build(config)?;
        let data = trainable.vars.data().lock().expect("the variables' lock");
        let mut names: Vec<&String> = data.keys().collect();
        names.sort();
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        for name in names {
            let var = &data[name];
            let count = var.elem_count();
            let values: Vec<f32> = if name.contains(".ln_") && name.ends_with(".weight") {
                vec![1.0; count]
            } else if name.ends_with(".bias") {
                vec![0.0; count]
            } else {
                (0..count).map(|_| 0.02 * normal(&mut rng)).collect()
            };
            let tensor =
                Tensor::from_vec(values, var.shape(), &Device::Cpu).map_err(Error::tensor)?;
            var.set(&tensor).map_err(Error::tensor)?;
        }
        drop(data);
        Ok(trainable)
    }

    fn build(config: &Config) -> Result<Trainable, Error> {
        let vars = VarMap::new();
        let vb = VarBuilder::from_varmap(&vars, DType::F32, &Device::Cpu);
        let mut model = Gpt::new(vb, config).map_err(Error::tensor)?;
        model.differentiable = true;
        Ok(Trainable { model, vars })
    }

    /// Writes `config.json` and `model.safetensors` into `dir`.
    pub fn save(&self, dir: &Path) -> Result<(), Error> {
        std::fs::create_dir_all(dir).map_err(|err| Error::io(dir, err))?;
        self.model.config.write(dir)?;
        let weights = dir.join("model.safetensors");
        self.vars
            .save(&weights)
            .map_err(|err| Error::Model(format!("{} cannot be written: {err}", weights.display())))
    }
}

/// A standard normal sample (Box–Muller).
pub(crate) fn normal(rng: &mut impl Rng) -> f32 {
    let u1: f64 = rng.random_range(f64::EPSILON..1.0);
    let u2: f64 = rng.random();
    ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
}
