//! Creating the reference base models, since no weights can be downloaded here: a byte-level BPE
//! tokenizer trained on the public-domain corpus shipped in `lm/corpus/`, a GPT-2 model initialised
//! from a seed, and a short pre-training on the same text. The same seed and size give the same model.

use std::path::Path;

use rand::{Rng, SeedableRng};
use tokenizers::models::bpe::{BPE, BpeTrainerBuilder};
use tokenizers::normalizers::NFC;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, TokenizerBuilder};

use crate::Error;
use crate::config::{Config, Size};
use crate::decoder;
use crate::decoder::config::{DecoderConfig, Family};
use crate::model::Trainable;
use crate::text::{END_OF_TEXT, Sequence, Text};
use crate::train::{self, Recipe};

/// The text the base models are pre-trained on (written for this project and dedicated to the public
/// domain; see `lm/corpus/README.md`).
pub const CORPUS: &str = include_str!("../corpus/commons.txt");

/// Tokens per pre-training window.
const WINDOW: usize = 64;

/// A base model to create.
#[derive(Clone, Debug)]
pub struct BaseSpec {
    pub size: Size,
    pub seed: u64,
    pub vocab_size: usize,
    /// Pre-training optimiser steps.
    pub steps: usize,
}

impl BaseSpec {
    pub fn new(size: Size) -> BaseSpec {
        BaseSpec {
            size,
            seed: 56,
            vocab_size: 512,
            steps: match size {
                Size::Tiny => 150,
                Size::Small => 300,
            },
        }
    }
}

/// Trains the tokenizer on `corpus` and writes `tokenizer.json` into `dir`.
pub fn train_tokenizer(corpus: &str, vocab_size: usize, dir: &Path) -> Result<Text, Error> {
    std::fs::create_dir_all(dir).map_err(|err| Error::io(dir, err))?;
    let scratch = tempfile::tempdir().map_err(|err| Error::io(dir, err))?;
    let source = scratch.path().join("corpus.txt");
    std::fs::write(&source, corpus).map_err(|err| Error::io(&source, err))?;
    let mut trainer = BpeTrainerBuilder::new()
        .show_progress(false)
        .vocab_size(vocab_size)
        .min_frequency(2)
        .special_tokens(vec![AddedToken::from(END_OF_TEXT.to_string(), true)])
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .build();
    // No prefix space: a completion tokenised on its own reads as it does after its prompt.
    let byte_level = ByteLevel::new(false, true, true);
    let mut tokenizer = TokenizerBuilder::new()
        .with_model(BPE::default())
        .with_normalizer(None::<NFC>)
        .with_pre_tokenizer(Some(byte_level))
        .with_post_processor(Some(byte_level))
        .with_decoder(Some(byte_level))
        .build()
        .map_err(|err| Error::Model(format!("building the tokenizer: {err}")))?;
    tokenizer
        .train_from_files(&mut trainer, vec![source.to_string_lossy().into_owned()])
        .map_err(|err| Error::Model(format!("training the tokenizer: {err}")))?;
    let path = dir.join("tokenizer.json");
    tokenizer
        .save(&path, true)
        .map_err(|err| Error::Model(format!("{} cannot be written: {err}", path.display())))?;
    Text::load(dir)
}

/// Creates a base model in `dir`: tokenizer, seeded weights, pre-training on `corpus`.
pub fn create(
    spec: &BaseSpec,
    corpus: &str,
    dir: &Path,
    progress: impl FnMut(train::Step),
) -> Result<(), Error> {
    let text = train_tokenizer(corpus, spec.vocab_size, dir)?;
    let vocab_size = spec.vocab_size.max(text.eos as usize + 1);
    let config = Config::reference(vocab_size, text.eos, spec.size);
    let trainable = Trainable::initialise(&config, spec.seed)?;
    let windows = windows(&text, corpus, spec)?;
    let recipe = pre_training(spec);
    train::fine_tune(
        &trainable.model,
        trainable.vars.all_vars(),
        &windows,
        text.eos,
        &recipe,
        progress,
    )?;
    trainable.save(dir)
}

/// How a base model is pre-trained: one pass over `steps × 16` windows.
fn pre_training(spec: &BaseSpec) -> Recipe {
    Recipe {
        learning_rate: 3e-3,
        epochs: 1,
        batch_size: 16,
        seed: spec.seed,
        deadline: None,
    }
}

/// `steps × 16` windows of the corpus at seeded places, every token after the first scored.
fn windows(text: &Text, corpus: &str, spec: &BaseSpec) -> Result<Vec<Sequence>, Error> {
    let ids = text.encode(corpus)?;
    if ids.len() <= WINDOW {
        return Err(Error::Input("the corpus is shorter than one window".into()));
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(spec.seed ^ 0x5eed);
    Ok((0..spec.steps * 16)
        .map(|_| {
            let start = rng.random_range(0..ids.len() - WINDOW);
            let window = ids[start..start + WINDOW].to_vec();
            Sequence {
                scored: std::iter::once(false)
                    .chain(std::iter::repeat_n(true, WINDOW - 1))
                    .collect(),
                ids: window,
            }
        })
        .collect())
}

/// The reference models of real families: tiny, seeded, briefly pre-trained models in the layouts of
/// Qwen2 and Llama, with their tokens and chat templates, so that tests and the demo run real
/// architectures (and their chat templates and LoRA adapters) on a laptop.
pub const FAMILY_MODELS: [(&str, Family); 2] = [
    ("crucible/qwen2-tiny", Family::Qwen2),
    ("crucible/llama-tiny", Family::Llama),
];

/// A family's special tokens (the first is the end of a turn), its template, and whether it opens a
/// text with a beginning token.
fn family_tokens(
    family: Family,
) -> Result<(&'static [&'static str], &'static str, Option<&'static str>), Error> {
    match family {
        Family::Qwen2 => Ok((
            &["<|im_end|>", "<|im_start|>"],
            include_str!("../templates/qwen2.5.jinja"),
            None,
        )),
        Family::Llama => Ok((
            &[
                "<|eot_id|>",
                "<|begin_of_text|>",
                "<|start_header_id|>",
                "<|end_header_id|>",
            ],
            include_str!("../templates/llama3.jinja"),
            Some("<|begin_of_text|>"),
        )),
        other => Err(Error::Input(format!(
            "no reference model of the {} family is made here",
            other.model_type()
        ))),
    }
}

/// Creates a reference model of `family` in `dir`: the corpus tokenizer with the family's special
/// tokens, `config.json`, `tokenizer_config.json` with the chat template, seeded weights, pre-training
/// on `corpus`.
pub fn create_decoder(
    family: Family,
    spec: &BaseSpec,
    corpus: &str,
    dir: &Path,
    progress: impl FnMut(train::Step),
) -> Result<(), Error> {
    let (specials, template, bos) = family_tokens(family)?;
    train_tokenizer(corpus, spec.vocab_size, dir)?;
    let path = dir.join("tokenizer.json");
    let mut tokenizer = tokenizers::Tokenizer::from_file(&path)
        .map_err(|err| Error::Model(format!("{}: {err}", path.display())))?;
    let added: Vec<AddedToken> = specials
        .iter()
        .map(|t| AddedToken::from(t.to_string(), true))
        .collect();
    tokenizer.add_special_tokens(&added);
    tokenizer
        .save(&path, true)
        .map_err(|err| Error::Model(format!("{} cannot be written: {err}", path.display())))?;
    let id = |token: &str| {
        tokenizer
            .token_to_id(token)
            .ok_or_else(|| Error::Model(format!("the tokenizer has no {token}")))
    };
    let eos = id(specials[0])?;
    let (hidden, layers, heads) = match spec.size {
        Size::Tiny => (64, 2, 4),
        Size::Small => (128, 4, 4),
    };
    let mut config = serde_json::json!({
        "model_type": family.model_type(),
        "architectures": [match family { Family::Qwen2 => "Qwen2ForCausalLM", _ => "LlamaForCausalLM" }],
        "vocab_size": tokenizer.get_vocab_size(true),
        "hidden_size": hidden,
        "intermediate_size": 2 * hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": heads / 2,
        "max_position_embeddings": 256,
        "rms_norm_eps": 1e-6,
        "rope_theta": if family == Family::Llama { 500_000.0 } else { 1_000_000.0 },
        "hidden_act": "silu",
        "tie_word_embeddings": family == Family::Qwen2,
        "eos_token_id": eos,
        "torch_dtype": "float32",
    });
    if let Some(bos) = bos {
        config["bos_token_id"] = id(bos)?.into();
    }
    write_json(&dir.join("config.json"), &config)?;
    let mut tokenizer_config = serde_json::json!({
        "tokenizer_class": "PreTrainedTokenizerFast",
        "chat_template": template,
        "eos_token": specials[0],
        "pad_token": END_OF_TEXT,
        "model_max_length": 256,
        "additional_special_tokens": specials,
    });
    if let Some(bos) = bos {
        tokenizer_config["bos_token"] = bos.into();
    }
    write_json(&dir.join("tokenizer_config.json"), &tokenizer_config)?;

    let layout = DecoderConfig::read(dir)?.layout()?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(spec.seed);
    let trainable = decoder::Trainable::new(layout, |name, shape| {
        let count: usize = shape.iter().product();
        let values: Vec<f32> = if shape.len() == 1 && name.ends_with("norm.weight") {
            vec![1.0; count]
        } else if shape.len() == 1 {
            vec![0.0; count]
        } else {
            (0..count)
                .map(|_| 0.02 * crate::model::normal(&mut rng))
                .collect()
        };
        candle_core::Tensor::from_vec(values, shape, &candle_core::Device::Cpu)
            .map_err(Error::tensor)
    })?;
    let text = Text::load(dir)?;
    let windows = windows(&text, corpus, spec)?;
    let recipe = pre_training(spec);
    let (model, vars) = (&trainable.decoder, trainable.variables());
    train::fine_tune(model, vars, &windows, eos, &recipe, progress)?;
    trainable.save(&dir.join("model.safetensors"))
}

fn write_json(path: &Path, value: &serde_json::Value) -> Result<(), Error> {
    let text = serde_json::to_string_pretty(value).expect("JSON serialises");
    std::fs::write(path, text).map_err(|err| Error::io(path, err))
}
