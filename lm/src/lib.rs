//! The reference model family: small causal language models in the Hugging Face layout (`config.json`,
//! `tokenizer.json`, `model.safetensors`, GPT-2's architecture and tensor names) that load, train and
//! evaluate on a CPU in seconds to minutes, so the whole competition loop runs on a laptop. Built on
//! candle (tensors with autograd) and Hugging Face `tokenizers`.
//!
//! `crucible-eval` (the reference evaluator, docs/evaluator.md) and `crucible-base-models` (creates the
//! base models) are this crate's programs; the reference miner and `crucible-train` (the
//! reference tournament recipe) train with [`recipe`].

pub mod adapter;
pub mod base;
pub mod config;
pub mod conversation;
pub mod decoder;
pub mod eval;
pub mod loss;
pub mod model;
pub mod recipe;
pub mod rewards;
pub mod submission;
pub mod template;
pub mod text;
pub mod train;
pub mod weights;

use std::path::Path;

/// What can go wrong, in words for the evaluator's log or the miner's terminal.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {message}")]
    Io { path: String, message: String },
    /// A model directory is not a model this crate reads.
    #[error("{0}")]
    Model(String),
    /// The input (spec, rows) is wrong.
    #[error("{0}")]
    Input(String),
    /// A tensor operation failed.
    #[error("tensor: {0}")]
    Tensor(String),
    /// The submission itself cannot be scored as it stands (its tokenizer or architecture is not the
    /// base model's, its weights do not load or give no number): its miner's fault, not the platform's.
    #[error("the submission is refused: {0}")]
    Refused(String),
}

impl Error {
    pub fn io(path: &Path, err: std::io::Error) -> Error {
        Error::Io {
            path: path.display().to_string(),
            message: err.to_string(),
        }
    }

    pub fn tensor(err: candle_core::Error) -> Error {
        Error::Tensor(err.to_string())
    }
}

/// The model ids of the reference family, as the catalogue lists them.
pub const REFERENCE_MODELS: [(&str, config::Size); 2] = [
    ("crucible/reference-tiny", config::Size::Tiny),
    ("crucible/reference-small", config::Size::Small),
];
