//! `config.json` of a model directory: the GPT-2 keys Hugging Face `transformers` reads, so a reference
//! model loads there as a `GPT2LMHeadModel` too.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::Error;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Config {
    #[serde(default = "gpt2")]
    pub model_type: String,
    #[serde(default)]
    pub architectures: Vec<String>,
    pub vocab_size: usize,
    /// The longest sequence, in tokens.
    pub n_positions: usize,
    pub n_embd: usize,
    pub n_layer: usize,
    pub n_head: usize,
    #[serde(default = "epsilon")]
    pub layer_norm_epsilon: f64,
    #[serde(default = "gelu_new")]
    pub activation_function: String,
    pub bos_token_id: u32,
    pub eos_token_id: u32,
    #[serde(default = "yes")]
    pub tie_word_embeddings: bool,
}

fn gpt2() -> String {
    "gpt2".into()
}
fn epsilon() -> f64 {
    1e-5
}
fn gelu_new() -> String {
    "gelu_new".into()
}
fn yes() -> bool {
    true
}

impl Config {
    /// A reference model's shape, with the tokenizer's vocabulary and end-of-text token.
    pub fn reference(vocab_size: usize, eos_token_id: u32, size: Size) -> Config {
        let (n_embd, n_layer, n_head) = match size {
            Size::Tiny => (64, 2, 2),
            Size::Small => (128, 4, 4),
        };
        Config {
            model_type: gpt2(),
            architectures: vec!["GPT2LMHeadModel".into()],
            vocab_size,
            n_positions: 256,
            n_embd,
            n_layer,
            n_head,
            layer_norm_epsilon: epsilon(),
            activation_function: gelu_new(),
            bos_token_id: eos_token_id,
            eos_token_id,
            tie_word_embeddings: true,
        }
    }

    /// How many weights a model of this config has (the head is tied to the token embedding).
    pub fn parameters(&self) -> usize {
        let n = self.n_embd;
        let block = 12 * n * n + 13 * n;
        (self.vocab_size + self.n_positions) * n + self.n_layer * block + 2 * n
    }

    pub fn read(dir: &Path) -> Result<Config, Error> {
        let path = dir.join("config.json");
        let text = std::fs::read_to_string(&path).map_err(|err| Error::io(&path, err))?;
        let config: Config = serde_json::from_str(&text).map_err(|err| {
            Error::Model(format!("{} is not a GPT-2 config: {err}", path.display()))
        })?;
        if config.model_type != "gpt2" {
            return Err(Error::Model(format!(
                "{}: model_type {:?}; the reference evaluator reads GPT-2 models only",
                path.display(),
                config.model_type
            )));
        }
        if config.n_head == 0 || !config.n_embd.is_multiple_of(config.n_head) {
            return Err(Error::Model(format!(
                "{}: n_embd {} is not a multiple of n_head {}",
                path.display(),
                config.n_embd,
                config.n_head
            )));
        }
        Ok(config)
    }

    pub fn write(&self, dir: &Path) -> Result<(), Error> {
        let path = dir.join("config.json");
        let text = serde_json::to_string_pretty(self).expect("a config serialises");
        std::fs::write(&path, text).map_err(|err| Error::io(&path, err))
    }
}

/// The sizes of the reference family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Size {
    /// About 0.1 M parameters: trains in seconds, for tests.
    Tiny,
    /// About 0.9 M parameters.
    Small,
}

impl Size {
    pub fn parse(name: &str) -> Option<Size> {
        match name {
            "tiny" => Some(Size::Tiny),
            "small" => Some(Size::Small),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Size::Tiny => "tiny",
            Size::Small => "small",
        }
    }
}
