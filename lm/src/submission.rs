//! What a submission must share with its task's base model before it is scored: the ruler it is
//! measured with. Every submission is scored with the base model's tokenizer, so a submission that
//! brings a `tokenizer.json` of its own must bring the base's (the encoding it defines: vocabulary,
//! merges, special tokens, normalisation, pre- and post-processing, decoding); and its `config.json`
//! must describe the base's architecture exactly (every key the family reads: vocabulary size,
//! positions, widths, depth, heads, rotary settings, special token ids). Anything else would change what the loss measures, so it is refused with the
//! difference named, as the submission's own fault.

use std::path::Path;

use serde_json::Value;

use crate::Error;
use crate::config::Config;
use crate::decoder::config::DecoderConfig;

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
    let (base_config, config) = if crate::eval::model_type(base)? == "gpt2" {
        let base_config = Config::read(base)?;
        let config = Config::read(submission).map_err(|err| Error::Refused(err.to_string()))?;
        (to_json(&base_config), to_json(&config))
    } else {
        let base_config = DecoderConfig::read(base)?;
        let config =
            DecoderConfig::read(submission).map_err(|err| Error::Refused(err.to_string()))?;
        (to_json(&base_config), to_json(&config))
    };
    if let Some(field) = config_difference(&base_config, &config) {
        return Err(Error::Refused(format!(
            "config.json differs from the base model's in {field}; a submission keeps the base \
             model's architecture and vocabulary"
        )));
    }
    check_tokenizer(base, submission)
}

/// Refuses a submission whose own `tokenizer.json` (when it brings one) encodes text otherwise than
/// the base's.
pub fn check_tokenizer(base: &Path, submission: &Path) -> Result<(), Error> {
    let own = submission.join("tokenizer.json");
    if !own.is_file() {
        return Ok(());
    }
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
    Ok(())
}

fn to_json(config: &impl serde::Serialize) -> Value {
    serde_json::to_value(config).expect("a config serialises")
}

/// The first field (in the base's order, then the submission's) in which two configs differ, if any.
fn config_difference(base: &Value, config: &Value) -> Option<String> {
    let (Value::Object(base), Value::Object(config)) = (base, config) else {
        return Some("its shape".into());
    };
    base.keys()
        .chain(config.keys())
        .find(|key| base.get(*key) != config.get(*key))
        .cloned()
}
