//! `config.json` of a decoder-family model, with the keys Hugging Face `transformers` writes for Llama,
//! Mistral, Qwen2, Qwen3, Gemma 2 and Phi-3, and what each family makes of them (`Layout`): which
//! projections carry biases, which norms exist, the activation, the attention scale, soft-capping,
//! sliding windows and the rotary frequencies.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Error;

/// A family this crate's decoder reads, named by `model_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Llama,
    Mistral,
    Qwen2,
    Qwen3,
    Gemma2,
    Phi3,
}

impl Family {
    pub const ALL: [Family; 6] = [
        Family::Llama,
        Family::Mistral,
        Family::Qwen2,
        Family::Qwen3,
        Family::Gemma2,
        Family::Phi3,
    ];

    /// The family of a `model_type`, if this crate knows it.
    pub fn of(model_type: &str) -> Option<Family> {
        Family::ALL
            .into_iter()
            .find(|family| family.model_type() == model_type)
    }

    pub fn model_type(self) -> &'static str {
        match self {
            Family::Llama => "llama",
            Family::Mistral => "mistral",
            Family::Qwen2 => "qwen2",
            Family::Qwen3 => "qwen3",
            Family::Gemma2 => "gemma2",
            Family::Phi3 => "phi3",
        }
    }
}

/// Token ids as `config.json` gives them: one, or a list (Llama 3.x lists several end tokens).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TokenIds {
    One(u32),
    Many(Vec<u32>),
}

impl TokenIds {
    pub fn all(&self) -> Vec<u32> {
        match self {
            TokenIds::One(id) => vec![*id],
            TokenIds::Many(ids) => ids.clone(),
        }
    }
}

/// The keys of `config.json` the decoder reads. Every one of them decides what the model computes, so
/// a submission's must equal its base's (`submission::check_against_base`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DecoderConfig {
    pub model_type: String,
    #[serde(default)]
    pub architectures: Vec<String>,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    #[serde(default)]
    pub num_key_value_heads: Option<usize>,
    #[serde(default)]
    pub head_dim: Option<usize>,
    #[serde(default = "positions")]
    pub max_position_embeddings: usize,
    #[serde(default = "epsilon")]
    pub rms_norm_eps: f64,
    #[serde(default)]
    pub rope_theta: Option<f64>,
    /// `transformers` 4.x writes `rope_scaling` (and `rope_theta` beside it); 5.x writes both in
    /// `rope_parameters`.
    #[serde(default)]
    pub rope_scaling: Option<Value>,
    #[serde(default)]
    pub rope_parameters: Option<Value>,
    #[serde(default)]
    pub tie_word_embeddings: Option<bool>,
    #[serde(default)]
    pub hidden_act: Option<String>,
    /// Gemma 2's name for `hidden_act`.
    #[serde(default)]
    pub hidden_activation: Option<String>,
    #[serde(default)]
    pub attention_bias: Option<bool>,
    #[serde(default)]
    pub mlp_bias: Option<bool>,
    #[serde(default)]
    pub sliding_window: Option<usize>,
    #[serde(default)]
    pub use_sliding_window: Option<bool>,
    #[serde(default)]
    pub max_window_layers: Option<usize>,
    #[serde(default)]
    pub layer_types: Option<Vec<String>>,
    #[serde(default)]
    pub query_pre_attn_scalar: Option<f64>,
    #[serde(default)]
    pub attn_logit_softcapping: Option<f64>,
    #[serde(default)]
    pub final_logit_softcapping: Option<f64>,
    #[serde(default)]
    pub partial_rotary_factor: Option<f64>,
    /// Phi-3's pre-training context, which its LongRoPE scaling switches at (`transformers` 4.x
    /// writes it here, 5.x in `rope_parameters`).
    #[serde(default)]
    pub original_max_position_embeddings: Option<usize>,
    #[serde(default)]
    pub bos_token_id: Option<TokenIds>,
    #[serde(default)]
    pub eos_token_id: Option<TokenIds>,
}

fn positions() -> usize {
    2048
}
fn epsilon() -> f64 {
    1e-6
}

/// The activation of the gated MLP.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    Silu,
    /// GELU, tanh approximation (`gelu_pytorch_tanh`, `gelu_new`).
    GeluTanh,
    /// GELU, exact (`gelu`).
    Gelu,
}

/// The rotary positions' inverse frequencies (`head_dim / 2` of them), and the factor cos and sin are
/// scaled by. With LongRoPE (Phi-3), a sequence longer than the pre-training context uses other
/// frequencies, as `transformers` switches them for a batch that long.
#[derive(Clone, Debug, PartialEq)]
pub struct Rotary {
    pub frequencies: Vec<f64>,
    /// (the pre-training context, the frequencies beyond it).
    pub long: Option<(usize, Vec<f64>)>,
    pub scale: f64,
}

impl Rotary {
    /// The frequencies for a batch `t` positions long.
    pub fn frequencies_for(&self, t: usize) -> &[f64] {
        match &self.long {
            Some((original, long)) if t > *original => long,
            _ => &self.frequencies,
        }
    }
}

/// What a family makes of its config: everything the forward pass needs to know.
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    pub family: Family,
    pub vocab_size: usize,
    pub hidden: usize,
    pub intermediate: usize,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub context: usize,
    pub eps: f64,
    pub activation: Activation,
    pub tied: bool,
    /// Biases on the query, key and value projections (Qwen2; Llama and Qwen3 when `attention_bias`).
    pub qkv_bias: bool,
    pub output_bias: bool,
    pub mlp_bias: bool,
    /// Per-head RMS norms of queries and keys (Qwen3).
    pub qk_norm: bool,
    /// Gemma 2: embeddings scaled by √hidden, norms multiply by (1 + w), a norm after attention and
    /// around the MLP.
    pub gemma: bool,
    /// Phi-3: query, key and value in one projection, gate and up in one.
    pub fused: bool,
    /// Attention scores are multiplied by this (1/√head_dim unless the family says otherwise).
    pub attention_scale: f64,
    pub attention_softcap: Option<f64>,
    pub final_softcap: Option<f64>,
    /// Each layer's sliding window, if it has one: a position sees the `w` positions up to itself.
    pub windows: Vec<Option<usize>>,
    /// The rotary positions' frequencies.
    pub rotary: Rotary,
    pub eos: Vec<u32>,
    pub bos: Option<u32>,
}

impl DecoderConfig {
    pub fn read(dir: &Path) -> Result<DecoderConfig, Error> {
        let path = dir.join("config.json");
        let text = std::fs::read_to_string(&path).map_err(|err| Error::io(&path, err))?;
        serde_json::from_str(&text)
            .map_err(|err| Error::Model(format!("{} is not a model config: {err}", path.display())))
    }

    /// The layout, or why this config cannot be read as its family.
    pub fn layout(&self) -> Result<Layout, Error> {
        let family = Family::of(&self.model_type).ok_or_else(|| {
            Error::Model(format!(
                "model_type {:?} is not a family crucible-eval reads",
                self.model_type
            ))
        })?;
        let heads = self.num_attention_heads;
        if heads == 0 || self.hidden_size == 0 || self.num_hidden_layers == 0 {
            return Err(Error::Model(
                "config.json: hidden_size, num_attention_heads and num_hidden_layers must be positive".into(),
            ));
        }
        let kv_heads = self.num_key_value_heads.unwrap_or(heads);
        if kv_heads == 0 || !heads.is_multiple_of(kv_heads) {
            return Err(Error::Model(format!(
                "config.json: num_attention_heads ({heads}) is not a multiple of num_key_value_heads ({kv_heads})"
            )));
        }
        let head_dim = self.head_dim.unwrap_or(self.hidden_size / heads);
        if head_dim == 0 || !head_dim.is_multiple_of(2) {
            return Err(Error::Model(format!(
                "config.json: head_dim {head_dim} is not a positive even number"
            )));
        }
        let nested = self
            .rope_parameters
            .as_ref()
            .and_then(|p| p.get("partial_rotary_factor"))
            .and_then(Value::as_f64);
        if self
            .partial_rotary_factor
            .or(nested)
            .is_some_and(|f| f != 1.0)
        {
            return Err(Error::Model(
                "config.json: partial_rotary_factor other than 1 is not read by crucible-eval"
                    .into(),
            ));
        }
        let gemma = family == Family::Gemma2;
        let activation = match self
            .hidden_activation
            .as_deref()
            .or(self.hidden_act.as_deref())
            .unwrap_or(if gemma { "gelu_pytorch_tanh" } else { "silu" })
        {
            "silu" | "swish" => Activation::Silu,
            "gelu_pytorch_tanh" | "gelu_new" | "gelu_fast" => Activation::GeluTanh,
            "gelu" => Activation::Gelu,
            other => {
                return Err(Error::Model(format!(
                    "config.json: activation {other:?} is not read by crucible-eval"
                )));
            }
        };
        let attention_bias = self.attention_bias.unwrap_or(false);
        let (qkv_bias, output_bias) = match family {
            Family::Qwen2 => (true, false),
            Family::Llama | Family::Qwen3 => (attention_bias, attention_bias),
            Family::Mistral | Family::Gemma2 | Family::Phi3 => (false, false),
        };
        let attention_scale = match (gemma, self.query_pre_attn_scalar) {
            (true, Some(scalar)) => scalar.powf(-0.5),
            _ => (head_dim as f64).powf(-0.5),
        };
        Ok(Layout {
            family,
            vocab_size: self.vocab_size,
            hidden: self.hidden_size,
            intermediate: self.intermediate_size,
            layers: self.num_hidden_layers,
            heads,
            kv_heads,
            head_dim,
            context: self.max_position_embeddings,
            eps: self.rms_norm_eps,
            activation,
            tied: self.tie_word_embeddings.unwrap_or(gemma),
            qkv_bias,
            output_bias,
            mlp_bias: family == Family::Llama && self.mlp_bias.unwrap_or(false),
            qk_norm: family == Family::Qwen3,
            gemma,
            fused: family == Family::Phi3,
            attention_scale,
            attention_softcap: if gemma {
                self.attn_logit_softcapping
            } else {
                None
            },
            final_softcap: if gemma {
                self.final_logit_softcapping
            } else {
                None
            },
            windows: self.windows(family)?,
            rotary: self.rotary(head_dim)?,
            eos: self
                .eos_token_id
                .as_ref()
                .map(TokenIds::all)
                .unwrap_or_default(),
            bos: self
                .bos_token_id
                .as_ref()
                .and_then(|ids| ids.all().first().copied()),
        })
    }

    /// Each layer's sliding window, as `transformers` decides it for the family.
    fn windows(&self, family: Family) -> Result<Vec<Option<usize>>, Error> {
        let n = self.num_hidden_layers;
        if let Some(types) = &self.layer_types {
            if types.len() != n {
                return Err(Error::Model(format!(
                    "config.json: layer_types has {} entries for {n} layers",
                    types.len()
                )));
            }
            return types
                .iter()
                .map(|kind| match kind.as_str() {
                    "full_attention" => Ok(None),
                    "sliding_attention" => self.sliding_window.map(Some).ok_or_else(|| {
                        Error::Model(
                            "config.json: a sliding_attention layer without sliding_window".into(),
                        )
                    }),
                    other => Err(Error::Model(format!(
                        "config.json: layer type {other:?} is not read by crucible-eval"
                    ))),
                })
                .collect();
        }
        Ok((0..n)
            .map(|i| match family {
                // Gemma 2 alternates: even layers slide, odd layers see everything.
                Family::Gemma2 => self.sliding_window.filter(|_| i % 2 == 0),
                Family::Mistral | Family::Phi3 => self.sliding_window,
                Family::Qwen2 | Family::Qwen3 => self.sliding_window.filter(|_| {
                    self.use_sliding_window == Some(true)
                        && i >= self.max_window_layers.unwrap_or(n)
                }),
                Family::Llama => None,
            })
            .collect())
    }

    /// LongRoPE: θ^(−2i/d) divided by the short factors up to the pre-training context, by the long
    /// ones beyond; cos and sin scaled by √(1 + ln(s) / ln(context)), s being how far the context was
    /// stretched (`attention_factor` when the config gives it).
    fn long_rope(
        &self,
        parameters: Option<&Value>,
        theta: f64,
        head_dim: usize,
    ) -> Result<Rotary, Error> {
        let missing =
            |name: &str| Error::Model(format!("config.json: longrope rope scaling without {name}"));
        let factors = |name: &str| -> Result<Vec<f64>, Error> {
            let list: Vec<f64> = parameters
                .and_then(|p| p.get(name))
                .and_then(Value::as_array)
                .ok_or_else(|| missing(name))?
                .iter()
                .map(|f| f.as_f64().ok_or_else(|| missing(name)))
                .collect::<Result<_, _>>()?;
            if list.len() != head_dim / 2 {
                return Err(Error::Model(format!(
                    "config.json: {name} has {} factors for {} rotary frequencies",
                    list.len(),
                    head_dim / 2
                )));
            }
            Ok((0..head_dim / 2)
                .map(|i| 1.0 / (list[i] * theta.powf((2 * i) as f64 / head_dim as f64)))
                .collect())
        };
        let original = parameters
            .and_then(|p| p.get("original_max_position_embeddings"))
            .and_then(Value::as_u64)
            .map(|n| n as usize)
            .or(self.original_max_position_embeddings)
            .ok_or_else(|| missing("original_max_position_embeddings"))?;
        let stretch = parameters
            .and_then(|p| p.get("factor"))
            .and_then(Value::as_f64)
            .unwrap_or(self.max_position_embeddings as f64 / original as f64);
        let scale = match parameters
            .and_then(|p| p.get("attention_factor"))
            .and_then(Value::as_f64)
        {
            Some(given) => given,
            None if stretch <= 1.0 => 1.0,
            None => (1.0 + stretch.ln() / (original as f64).ln()).sqrt(),
        };
        Ok(Rotary {
            frequencies: factors("short_factor")?,
            long: Some((original, factors("long_factor")?)),
            scale,
        })
    }

    /// The rotary inverse frequencies: θ^(−2i/d), adjusted as Llama 3's or Phi-3's (LongRoPE)
    /// `rope_scaling` says.
    fn rotary(&self, head_dim: usize) -> Result<Rotary, Error> {
        let parameters = self.rope_parameters.as_ref().or(self.rope_scaling.as_ref());
        let field = |name: &str| parameters.and_then(|p| p.get(name)).and_then(Value::as_f64);
        let theta = self
            .rope_theta
            .or_else(|| field("rope_theta"))
            .unwrap_or(10_000.0);
        let base: Vec<f64> = (0..head_dim / 2)
            .map(|i| 1.0 / theta.powf((2 * i) as f64 / head_dim as f64))
            .collect();
        let kind = parameters
            .and_then(|p| p.get("rope_type").or_else(|| p.get("type")))
            .and_then(Value::as_str)
            .unwrap_or("default");
        let plain = |frequencies| Rotary {
            frequencies,
            long: None,
            scale: 1.0,
        };
        match kind {
            "default" => Ok(plain(base)),
            "longrope" => self.long_rope(parameters, theta, head_dim),
            "llama3" => {
                let need = |name: &str| {
                    field(name).ok_or_else(|| {
                        Error::Model(format!("config.json: llama3 rope scaling without {name}"))
                    })
                };
                let factor = need("factor")?;
                let low = need("low_freq_factor")?;
                let high = need("high_freq_factor")?;
                let original = need("original_max_position_embeddings")?;
                let low_wavelength = original / low;
                let high_wavelength = original / high;
                Ok(plain(
                    base.into_iter()
                        .map(|f| {
                            let wavelength = 2.0 * std::f64::consts::PI / f;
                            if wavelength < high_wavelength {
                                f
                            } else if wavelength > low_wavelength {
                                f / factor
                            } else {
                                let smooth = (original / wavelength - low) / (high - low);
                                (1.0 - smooth) * f / factor + smooth * f
                            }
                        })
                        .collect(),
                ))
            }
            other => Err(Error::Model(format!(
                "config.json: rope scaling {other:?} is not read by crucible-eval"
            ))),
        }
    }
}
