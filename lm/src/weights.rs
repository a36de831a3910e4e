//! The tensors of a model directory in the Hugging Face layout: `model.safetensors`, or the shards
//! `model.safetensors.index.json` names; f32, f16 or bf16 on disk, f32 in memory (the CPU computes in
//! f32, as `transformers` does when it loads a model without a `torch_dtype`).

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use serde_json::Value;

use crate::Error;

/// A model's tensors by name, taken out one by one as the layers are built.
#[derive(Clone)]
pub struct Weights {
    tensors: HashMap<String, Tensor>,
    /// Where they came from, for messages.
    source: String,
}

impl Weights {
    /// The same tensors on `device` (a GPU, to score there).
    pub fn to_device(&self, device: &Device) -> Result<Weights, Error> {
        let tensors = self
            .tensors
            .iter()
            .map(|(name, tensor)| Ok((name.clone(), tensor.to_device(device)?)))
            .collect::<candle_core::Result<_>>()
            .map_err(Error::tensor)?;
        Ok(Weights {
            tensors,
            source: self.source.clone(),
        })
    }

    /// Every tensor of the model in `dir`.
    pub fn read(dir: &Path, device: &Device) -> Result<Weights, Error> {
        let single = dir.join("model.safetensors");
        let index = dir.join("model.safetensors.index.json");
        let files = if single.is_file() {
            vec![single]
        } else if index.is_file() {
            shards(dir, &index)?
        } else {
            return Err(Error::Model(format!(
                "{} has neither model.safetensors nor model.safetensors.index.json",
                dir.display()
            )));
        };
        let mut tensors = HashMap::new();
        for file in &files {
            tensors.extend(read_file(file, device)?);
        }
        Ok(Weights {
            tensors,
            source: dir.display().to_string(),
        })
    }

    pub fn from_tensors(tensors: HashMap<String, Tensor>, source: &str) -> Weights {
        Weights {
            tensors,
            source: source.to_string(),
        }
    }

    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.tensors.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &String> {
        self.tensors.keys()
    }

    /// Replaces a tensor (an adapter merged into a weight).
    pub fn replace(&mut self, name: &str, tensor: Tensor) {
        self.tensors.insert(name.to_string(), tensor);
    }

    /// The tensor `name`, which must have `shape`.
    pub fn take(&self, name: &str, shape: &[usize]) -> Result<Tensor, Error> {
        let tensor = self
            .tensors
            .get(name)
            .ok_or_else(|| Error::Model(format!("{}: no tensor {name}", self.source)))?;
        if tensor.dims() != shape {
            return Err(Error::Model(format!(
                "{}: {name} has shape {:?}, the config says {shape:?}",
                self.source,
                tensor.dims()
            )));
        }
        Ok(tensor.clone())
    }
}

/// Writes `tensors` by name into the safetensors file `path`.
pub fn save(tensors: impl IntoIterator<Item = (String, Tensor)>, path: &Path) -> Result<(), Error> {
    let tensors: HashMap<String, Tensor> = tensors.into_iter().collect();
    candle_core::safetensors::save(&tensors, path)
        .map_err(|err| Error::Model(format!("{} cannot be written: {err}", path.display())))
}

/// The shard files an index names, each once, in name order.
fn shards(dir: &Path, index: &Path) -> Result<Vec<std::path::PathBuf>, Error> {
    let text = std::fs::read_to_string(index).map_err(|err| Error::io(index, err))?;
    let json: Value = serde_json::from_str(&text)
        .map_err(|err| Error::Model(format!("{} is not JSON: {err}", index.display())))?;
    let map = json
        .get("weight_map")
        .and_then(Value::as_object)
        .ok_or_else(|| Error::Model(format!("{} has no weight_map", index.display())))?;
    let mut files = BTreeSet::new();
    for file in map.values() {
        let name = file
            .as_str()
            .filter(|name| {
                !name.contains('/') && !name.contains('\\') && name.ends_with(".safetensors")
            })
            .ok_or_else(|| {
                Error::Model(format!(
                    "{}: {file} is not a shard file name",
                    index.display()
                ))
            })?;
        files.insert(name.to_string());
    }
    Ok(files.into_iter().map(|name| dir.join(name)).collect())
}

/// One safetensors file's tensors, as f32.
pub fn read_file(path: &Path, device: &Device) -> Result<HashMap<String, Tensor>, Error> {
    let tensors = candle_core::safetensors::load(path, device)
        .map_err(|err| Error::Model(format!("{} cannot be read: {err}", path.display())))?;
    tensors
        .into_iter()
        .map(|(name, tensor)| match tensor.dtype() {
            DType::F32 => Ok((name, tensor)),
            DType::F16 | DType::BF16 | DType::F64 => tensor
                .to_dtype(DType::F32)
                .map(|t| (name, t))
                .map_err(Error::tensor),
            other => Err(Error::Model(format!(
                "{}: {name} is {other:?}; weights are f32, f16 or bf16",
                path.display()
            ))),
        })
        .collect()
}
