//! A submission that is a PEFT LoRA adapter (`adapter_config.json` and `adapter_model.safetensors`) on
//! the task's base model. It is scored exactly as its merged weights: each adapted projection's weight
//! `W` `[out, in]` becomes `W + s · B · A`, with `A` `[r, in]`, `B` `[out, r]` and `s = lora_alpha / r`
//! (`lora_alpha / √r` with `use_rslora`), as `peft`'s `merge_and_unload` computes it.
//!
//! Whatever the adapter cannot mean on this base is refused as the submission's fault, with the reason:
//! another base model, a target module the base does not have, a matrix of the wrong shape, or a PEFT
//! feature that would change more than the adapted projections (bias training, `modules_to_save`,
//! DoRA, per-module ranks).

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use serde::Deserialize;
use serde_json::Value;

use crate::Error;
use crate::weights::{self, Weights};

pub const CONFIG_FILE: &str = "adapter_config.json";
pub const WEIGHTS_FILE: &str = "adapter_model.safetensors";

/// Whether `dir` holds an adapter rather than a full checkpoint.
pub fn is_adapter(dir: &Path) -> bool {
    dir.join(CONFIG_FILE).is_file()
}

#[derive(Debug, Deserialize)]
struct AdapterConfig {
    #[serde(default)]
    peft_type: Option<String>,
    #[serde(default)]
    base_model_name_or_path: Option<String>,
    r: usize,
    lora_alpha: f64,
    #[serde(default)]
    use_rslora: bool,
    #[serde(default)]
    target_modules: Option<Value>,
    #[serde(default)]
    fan_in_fan_out: bool,
    #[serde(default)]
    bias: Option<String>,
    #[serde(default)]
    modules_to_save: Option<Vec<String>>,
    #[serde(default)]
    use_dora: bool,
    #[serde(default)]
    rank_pattern: HashMap<String, Value>,
    #[serde(default)]
    alpha_pattern: HashMap<String, Value>,
}

/// Merges the adapter in `dir` into `base` (the task's base model, whose id is `model_id`) and says how
/// many projections it changed.
pub fn merge(dir: &Path, model_id: &str, base: &mut Weights) -> Result<usize, Error> {
    let refused = |why: String| Error::Refused(why);
    let path = dir.join(CONFIG_FILE);
    let text =
        std::fs::read_to_string(&path).map_err(|err| refused(format!("{CONFIG_FILE}: {err}")))?;
    let config: AdapterConfig = serde_json::from_str(&text)
        .map_err(|err| refused(format!("{CONFIG_FILE} is not a LoRA config: {err}")))?;
    config.check(model_id)?;
    let targets = Targets::of(config.target_modules.as_ref())?;
    let file = dir.join(WEIGHTS_FILE);
    if !file.is_file() {
        return Err(refused(format!(
            "an adapter needs {WEIGHTS_FILE} (pickled adapter_model.bin files are never loaded)"
        )));
    }
    let tensors =
        weights::read_file(&file, &Device::Cpu).map_err(|err| refused(err.to_string()))?;
    let pairs = pairs(tensors)?;
    if pairs.is_empty() {
        return Err(refused(format!("{WEIGHTS_FILE} holds no LoRA matrices")));
    }
    let scale = if config.use_rslora {
        config.lora_alpha / (config.r as f64).sqrt()
    } else {
        config.lora_alpha / config.r as f64
    };
    for Adapted { module, a, b } in &pairs {
        if !targets.names(module) {
            return Err(refused(format!(
                "{WEIGHTS_FILE} adapts {module}, which target_modules does not name"
            )));
        }
        let name = format!("{module}.weight");
        let weight = base.get(&name).filter(|w| w.rank() == 2).ok_or_else(|| {
            refused(format!(
                "{WEIGHTS_FILE} adapts {module}, which the base model does not have"
            ))
        })?;
        let (outputs, inputs) = weight.dims2().map_err(Error::tensor)?;
        if a.dims() != [config.r, inputs] || b.dims() != [outputs, config.r] {
            return Err(refused(format!(
                "{module}: lora_A is {:?} and lora_B {:?}; on this base with r = {} they are \
                 [{}, {inputs}] and [{outputs}, {}]",
                a.dims(),
                b.dims(),
                config.r,
                config.r,
                config.r
            )));
        }
        let merged = (weight
            + (b.matmul(a).map_err(Error::tensor)? * scale).map_err(Error::tensor)?)
        .map_err(Error::tensor)?;
        base.replace(&name, merged);
    }
    targets.all_known(&pairs)?;
    Ok(pairs.len())
}

impl AdapterConfig {
    fn check(&self, model_id: &str) -> Result<(), Error> {
        let refuse = |why: &str| Err(Error::Refused(format!("{CONFIG_FILE}: {why}")));
        if self.peft_type.as_deref().is_some_and(|t| t != "LORA") {
            return refuse("only LoRA adapters (peft_type LORA) are scored");
        }
        if let Some(named) = self
            .base_model_name_or_path
            .as_deref()
            .filter(|n| !n.is_empty())
            && !same_model(named, model_id)
        {
            return Err(Error::Refused(format!(
                "{CONFIG_FILE}: the adapter is for {named}, and this task's base model is {model_id}"
            )));
        }
        if self.r == 0 {
            return refuse("r is 0");
        }
        if self.fan_in_fan_out {
            return refuse(
                "fan_in_fan_out is for GPT-2's Conv1D layers; these projections are Linear",
            );
        }
        if self.bias.as_deref().is_some_and(|b| b != "none") {
            return refuse("bias training changes weights outside the adapter; use bias \"none\"");
        }
        if self.modules_to_save.as_ref().is_some_and(|m| !m.is_empty()) {
            return refuse(
                "modules_to_save replaces whole modules; submit a full checkpoint instead",
            );
        }
        if self.use_dora {
            return refuse("DoRA adapters are not scored; merge it and submit a full checkpoint");
        }
        if !self.rank_pattern.is_empty() || !self.alpha_pattern.is_empty() {
            return refuse(
                "rank_pattern and alpha_pattern are not scored; use one r and lora_alpha",
            );
        }
        Ok(())
    }
}

/// Whether an adapter's `base_model_name_or_path` names the task's model: its id, or a directory of
/// that name (`/models/Qwen2.5-0.5B-Instruct` for `Qwen/Qwen2.5-0.5B-Instruct`).
fn same_model(named: &str, model_id: &str) -> bool {
    let last = |s: &str| {
        s.trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or("")
            .to_string()
    };
    named == model_id || (!model_id.is_empty() && last(named) == last(model_id))
}

/// `target_modules`: names of projections (matched by the module path's last part), or one regular
/// expression that must match the whole path.
enum Targets {
    Names(Vec<String>),
    Pattern(regex::Regex),
}

impl Targets {
    fn of(value: Option<&Value>) -> Result<Targets, Error> {
        match value {
            Some(Value::Array(names)) => names
                .iter()
                .map(|n| {
                    n.as_str().map(str::to_string).ok_or_else(|| {
                        Error::Refused(format!(
                            "{CONFIG_FILE}: target_modules holds {n}, not a name"
                        ))
                    })
                })
                .collect::<Result<_, _>>()
                .map(Targets::Names),
            Some(Value::String(pattern)) => regex::Regex::new(&format!("^(?:{pattern})$"))
                .map(Targets::Pattern)
                .map_err(|err| {
                    Error::Refused(format!("{CONFIG_FILE}: target_modules {pattern:?}: {err}"))
                }),
            _ => Err(Error::Refused(format!(
                "{CONFIG_FILE}: target_modules names no module"
            ))),
        }
    }

    fn names(&self, module: &str) -> bool {
        match self {
            Targets::Names(names) => names
                .iter()
                .any(|n| module.rsplit('.').next() == Some(n.as_str())),
            Targets::Pattern(pattern) => pattern.is_match(module),
        }
    }

    /// Refuses a listed target the adapter never adapts: a module this base does not have (`c_attn`
    /// on a Qwen2), which would leave the adapter meaning something else than its author thought.
    fn all_known(&self, pairs: &[Adapted]) -> Result<(), Error> {
        if let Targets::Names(names) = self {
            for name in names {
                if !pairs
                    .iter()
                    .any(|p| p.module.rsplit('.').next() == Some(name.as_str()))
                {
                    return Err(Error::Refused(format!(
                        "{CONFIG_FILE}: target module {name:?} is not a projection of this base model \
                         (or the adapter holds no matrices for it)"
                    )));
                }
            }
        }
        Ok(())
    }
}

/// One adapted projection: its module path (`model.layers.0.self_attn.q_proj`) and its matrices.
struct Adapted {
    module: String,
    a: Tensor,
    b: Tensor,
}

/// The adapter's (A, B) pairs, in module path order.
fn pairs(tensors: HashMap<String, Tensor>) -> Result<Vec<Adapted>, Error> {
    let mut a_of: HashMap<String, Tensor> = HashMap::new();
    let mut b_of: HashMap<String, Tensor> = HashMap::new();
    for (name, tensor) in tensors {
        let path = name
            .strip_prefix("base_model.model.")
            .unwrap_or(&name)
            .replace(".default.weight", ".weight");
        if let Some(module) = path.strip_suffix(".lora_A.weight") {
            a_of.insert(module.to_string(), tensor);
        } else if let Some(module) = path.strip_suffix(".lora_B.weight") {
            b_of.insert(module.to_string(), tensor);
        } else {
            return Err(Error::Refused(format!(
                "{WEIGHTS_FILE} holds {name}, which is not a LoRA matrix"
            )));
        }
    }
    let mut pairs = Vec::with_capacity(a_of.len());
    for (module, a) in a_of {
        let b = b_of.remove(&module).ok_or_else(|| {
            Error::Refused(format!("{WEIGHTS_FILE}: {module} has lora_A and no lora_B"))
        })?;
        pairs.push(Adapted { module, a, b });
    }
    if let Some(module) = b_of.keys().next() {
        return Err(Error::Refused(format!(
            "{WEIGHTS_FILE}: {module} has lora_B and no lora_A"
        )));
    }
    pairs.sort_by(|x, y| x.module.cmp(&y.module));
    Ok(pairs)
}
