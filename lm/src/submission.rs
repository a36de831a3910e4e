//! What a submission must share with its task's base model before it is scored: the ruler it is
//! measured with. Every submission is scored with the base model's tokenizer, so a submission that
//! brings a `tokenizer.json` of its own must bring the base's (the encoding it defines: vocabulary,
//! merges, special tokens, normalisation, pre- and post-processing, decoding); and its `config.json`
//! must describe the base's architecture exactly (vocabulary size, positions, widths, depth, heads,
//! special token ids). Anything else would change what the loss measures, so it is refused with the
//! difference named, as the submission's own fault.

use std::path::Path;

use serde_json::Value;

use crate::Error;
use crate::config::Config;

/// The parts of `tokenizer.json` that decide how text becomes tokens and back.
const ENCODING_KEYS: [&str; 6] = [
    "model",
    "added_tokens",
    "normalizer",
    "pre_tokenizer",
    "post_processor",
    "decoder",
];

/// Refuses a submission (`Error::Refused`) whose tokenizer or architecture differs from the base's.
pub fn check_against_base(base: &Path, submission: &Path) -> Result<(), Error> {
    let base_config = Config::read(base)?;
    let config = Config::read(submission).map_err(|err| Error::Refused(err.to_string()))?;
    if let Some(field) = config_difference(&base_config, &config) {
        return Err(Error::Refused(format!(
            "config.json differs from the base model's in {field}; a submission keeps the base \
             model's architecture and vocabulary"
        )));
    }
    let own = submission.join("tokenizer.json");
    if own.is_file() {
        let read = |path: &Path| -> Result<Value, String> {
            let text = std::fs::read_to_string(path).map_err(|err| err.to_string())?;
            serde_json::from_str(&text).map_err(|err| err.to_string())
        };
        let base_tokenizer = read(&base.join("tokenizer.json"))
            .map_err(|err| Error::Model(format!("the base model's tokenizer.json: {err}")))?;
        let tokenizer = read(&own)
            .map_err(|err| Error::Refused(format!("its tokenizer.json is not JSON: {err}")))?;
        for key in ENCODING_KEYS {
            if tokenizer.get(key) != base_tokenizer.get(key) {
                return Err(Error::Refused(format!(
                    "its tokenizer.json differs from the base model's in \"{key}\": every \
                     submission is scored with the base model's tokenizer; submit it unchanged, \
                     or none"
                )));
            }
        }
    }
    Ok(())
}

/// The first architecture field in which `config` differs from `base`, if any.
fn config_difference(base: &Config, config: &Config) -> Option<&'static str> {
    let fields: [(&'static str, bool); 12] = [
        ("model_type", base.model_type == config.model_type),
        ("architectures", base.architectures == config.architectures),
        ("vocab_size", base.vocab_size == config.vocab_size),
        ("n_positions", base.n_positions == config.n_positions),
        ("n_embd", base.n_embd == config.n_embd),
        ("n_layer", base.n_layer == config.n_layer),
        ("n_head", base.n_head == config.n_head),
        (
            "layer_norm_epsilon",
            base.layer_norm_epsilon == config.layer_norm_epsilon,
        ),
        (
            "activation_function",
            base.activation_function == config.activation_function,
        ),
        ("bos_token_id", base.bos_token_id == config.bos_token_id),
        ("eos_token_id", base.eos_token_id == config.eos_token_id),
        (
            "tie_word_embeddings",
            base.tie_word_embeddings == config.tie_word_embeddings,
        ),
    ];
    fields
        .into_iter()
        .find(|(_, same)| !same)
        .map(|(field, _)| field)
}
