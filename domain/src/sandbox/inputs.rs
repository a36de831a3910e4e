//! What every evaluation of one task (or tournament) shares: the spec the evaluator reads, the secret
//! test split of the splits the task was created with, and the base model; and the held-out texts, so
//! that nothing the evaluator says about a submission reaches a miner or customer carrying one.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{Evaluator, artifact};
use crate::datasets::{TaskType, dataset::Splits};
use crate::error::{Error, Result};
use crate::tasks::RewardFunction;

/// What a model is scored on: a task's (or a tournament's) id, type, base model, the splits it was
/// created with and, for GRPO, the reward functions it declared.
pub struct Subject<'a> {
    pub id: &'a str,
    pub task_type: TaskType,
    pub model_id: &'a str,
    pub splits: &'a Splits,
    pub reward_functions: &'a [RewardFunction],
}

/// Held-out strings shorter than this are too common to recognise (a one-word answer).
const SECRET_MIN_CHARS: usize = 12;

pub struct Inputs {
    pub(super) spec: PathBuf,
    pub(super) test: PathBuf,
    base_model: PathBuf,
    /// Every string of the test split long enough to recognise.
    secrets: Vec<String>,
}

impl Inputs {
    /// Writes the subject's spec and held-out split into `dir`.
    pub async fn prepare(
        store: &dyn crate::storage::ObjectStore,
        evaluator: &Evaluator,
        subject: &Subject<'_>,
        dir: &Path,
    ) -> Result<Inputs> {
        let spec = dir.join("spec.json");
        let body = serde_json::json!({
            "task_id": subject.id,
            "task_type": subject.task_type.as_str(),
            "model_id": subject.model_id,
            "metric": "loss",
            "dpo_beta": 0.1,
            "grpo_rewards": subject.reward_functions,
        });
        tokio::fs::write(&spec, body.to_string())
            .await
            .map_err(io)?;
        let test = dir.join("test.jsonl");
        artifact::save(store.get(&subject.splits.test()).await?, &test)
            .await
            .map_err(io)?;
        let secrets = secrets_of(&tokio::fs::read_to_string(&test).await.map_err(io)?);
        let base_model = evaluator.base_models.join(subject.model_id);
        if !base_model.is_dir() {
            return Err(Error::Internal(format!(
                "the base model {} is not at {}",
                subject.model_id,
                base_model.display()
            )));
        }
        Ok(Inputs {
            spec,
            test,
            base_model,
            secrets,
        })
    }

    /// The base model's directory, which trainers start from.
    pub fn base_model(&self) -> &Path {
        &self.base_model
    }

    /// `text` as a miner or customer may read it: withheld whole if it quotes the held-out split.
    pub fn redact(&self, text: String) -> String {
        if self
            .secrets
            .iter()
            .any(|secret| text.contains(secret.as_str()))
        {
            "the evaluator's explanation was withheld: it quoted the secret test split".into()
        } else {
            text
        }
    }
}

fn io(err: std::io::Error) -> Error {
    Error::Internal(format!("evaluation files: {err}"))
}

/// The strings of a JSONL split's rows (at any depth) that are long enough to recognise.
fn secrets_of(jsonl: &str) -> Vec<String> {
    fn walk(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::String(s) if s.trim().chars().count() >= SECRET_MIN_CHARS => {
                out.push(s.trim().to_string())
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            Value::Object(fields) => fields.values().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for line in jsonl.lines() {
        if let Ok(row) = serde_json::from_str::<Value>(line) {
            walk(&row, &mut out);
        }
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_explanation_quoting_a_held_out_row_is_withheld() {
        let split = concat!(
            r#"{"instruction": "What is the capital of Atlantis?", "output": "Poseidonia, of course."}"#,
            "\n",
            r#"{"messages": [{"role": "user", "content": "A nested secret message"}, {"role": "assistant", "content": "ok"}]}"#,
            "\n"
        );
        let inputs = Inputs {
            spec: PathBuf::new(),
            test: PathBuf::new(),
            base_model: PathBuf::new(),
            secrets: secrets_of(split),
        };
        let quoted =
            inputs.redact("cannot score row: What is the capital of Atlantis? (too long)".into());
        assert!(
            !quoted.contains("Atlantis") && quoted.contains("withheld"),
            "{quoted}"
        );
        assert!(
            inputs
                .redact("saw A nested secret message".into())
                .contains("withheld")
        );
        let plain = "the tokenizer differs from the base model's".to_string();
        assert_eq!(inputs.redact(plain.clone()), plain);
        assert_eq!(
            inputs.redact("ok".into()),
            "ok",
            "short texts are not secrets"
        );
    }
}
