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
    let recipe = Recipe {
        learning_rate: 3e-3,
        epochs: 1,
        batch_size: 16,
        seed: spec.seed,
        deadline: None,
    };
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
