//! From normalised dataset rows to token sequences: each row becomes a prompt (context the model is
//! given) and a completion (what it is scored and trained on). The prompt format is fixed for the
//! reference family, so a miner's fine-tune and the evaluator see rows the same way.

use std::path::Path;

use serde_json::Value;
use tokenizers::Tokenizer;

use crate::Error;

/// The tokenizer of a model directory (`tokenizer.json`), with its end-of-text id.
pub struct Text {
    tokenizer: Tokenizer,
    pub eos: u32,
}

/// A row as tokens: `ids`, and which of them are scored (the completion's).
#[derive(Clone, Debug, PartialEq)]
pub struct Sequence {
    pub ids: Vec<u32>,
    pub scored: Vec<bool>,
}

pub const END_OF_TEXT: &str = "<|endoftext|>";

impl Text {
    pub fn load(dir: &Path) -> Result<Text, Error> {
        let path = dir.join("tokenizer.json");
        let tokenizer = Tokenizer::from_file(&path)
            .map_err(|err| Error::Model(format!("{} is not a tokenizer: {err}", path.display())))?;
        Text::new(tokenizer)
    }

    pub fn new(tokenizer: Tokenizer) -> Result<Text, Error> {
        let eos = tokenizer
            .token_to_id(END_OF_TEXT)
            .ok_or_else(|| Error::Model(format!("the tokenizer has no {END_OF_TEXT} token")))?;
        Ok(Text { tokenizer, eos })
    }

    pub fn encode(&self, text: &str) -> Result<Vec<u32>, Error> {
        self.tokenizer
            .encode(text, false)
            .map(|encoding| encoding.get_ids().to_vec())
            .map_err(|err| Error::Model(format!("tokenizing failed: {err}")))
    }

    pub fn decode(&self, ids: &[u32]) -> Result<String, Error> {
        self.tokenizer
            .decode(ids, true)
            .map_err(|err| Error::Model(format!("decoding failed: {err}")))
    }

    /// `prompt` then `completion` and the end of text, at most `limit` tokens: the prompt is cut from
    /// its start when they do not fit, the completion from its end only when it alone does not.
    pub fn sequence(
        &self,
        prompt: &str,
        completion: &str,
        limit: usize,
    ) -> Result<Sequence, Error> {
        Ok(Sequence::of(
            self.encode(prompt)?,
            self.encode(completion)?,
            self.eos,
            limit,
        ))
    }
}

impl Sequence {
    /// `prompt` then `completion` and `end`, at most `limit` tokens, the completion and `end` scored:
    /// the prompt is cut from its start when they do not fit, the completion from its end only when it
    /// alone does not.
    pub fn of(mut prompt: Vec<u32>, mut completion: Vec<u32>, end: u32, limit: usize) -> Sequence {
        completion.push(end);
        // At least one prompt token, so the first completion token is predicted from something.
        if prompt.is_empty() {
            prompt.push(end);
        }
        completion.truncate(limit.saturating_sub(1).max(1));
        let room = limit.saturating_sub(completion.len()).max(1);
        if prompt.len() > room {
            prompt.drain(..prompt.len() - room);
        }
        let scored = std::iter::repeat_n(false, prompt.len())
            .chain(std::iter::repeat_n(true, completion.len()))
            .collect();
        prompt.extend(completion);
        Sequence {
            ids: prompt,
            scored,
        }
    }
}

/// An instruct row as (prompt, completion).
pub fn instruct(row: &Value) -> Option<(String, String)> {
    let field = |name: &str| {
        row.get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let mut prompt = String::new();
    if let Some(system) = field("system") {
        prompt.push_str(&format!("System: {system}\n"));
    }
    prompt.push_str(&format!("Instruction: {}\n", field("instruction")?));
    if let Some(input) = field("input") {
        prompt.push_str(&format!("Input: {input}\n"));
    }
    prompt.push_str("Response:");
    Some((prompt, format!(" {}", field("output")?)))
}

/// A chat row as (prompt, completion): every message up to the last assistant message is the prompt,
/// that message the completion.
pub fn chat(row: &Value) -> Option<(String, String)> {
    let messages = row.get("messages")?.as_array()?;
    let last = messages
        .iter()
        .rposition(|m| m.get("role").and_then(Value::as_str) == Some("assistant"))?;
    let line = |m: &Value| {
        format!(
            "{}: {}\n",
            m.get("role").and_then(Value::as_str).unwrap_or("user"),
            m.get("content").and_then(Value::as_str).unwrap_or("")
        )
    };
    let mut prompt: String = messages[..last].iter().map(line).collect();
    prompt.push_str("assistant:");
    let content = messages[last].get("content").and_then(Value::as_str)?;
    Some((prompt, format!(" {content}")))
}

/// A DPO row as (prompt, chosen, rejected).
pub fn preference(row: &Value) -> Option<(String, String, String)> {
    let field = |name: &str| row.get(name).and_then(Value::as_str);
    let mut prompt = String::new();
    if let Some(system) = field("system").filter(|s| !s.is_empty()) {
        prompt.push_str(&format!("System: {system}\n"));
    }
    prompt.push_str(&format!("Instruction: {}\nResponse:", field("prompt")?));
    Some((
        prompt,
        format!(" {}", field("chosen")?),
        format!(" {}", field("rejected")?),
    ))
}

/// A GRPO row's prompt, formatted as the others are.
pub fn grpo_prompt(row: &Value) -> Option<String> {
    let prompt = row.get("prompt").and_then(Value::as_str)?;
    Some(format!("Instruction: {prompt}\nResponse:"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_instruct_row_reads_as_prompt_and_completion() {
        let (prompt, completion) = instruct(&json!({
            "instruction": "Add the numbers", "input": "2 and 2", "output": "4", "system": null
        }))
        .unwrap();
        assert_eq!(
            prompt,
            "Instruction: Add the numbers\nInput: 2 and 2\nResponse:"
        );
        assert_eq!(completion, " 4");
        assert!(instruct(&json!({"instruction": "x"})).is_none());
    }

    #[test]
    fn a_chat_row_completes_its_last_assistant_message() {
        let row = json!({"messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello"},
            {"role": "user", "content": "Name?"},
            {"role": "assistant", "content": "Crucible"}
        ]});
        let (prompt, completion) = chat(&row).unwrap();
        assert_eq!(
            prompt,
            "user: Hi\nassistant: Hello\nuser: Name?\nassistant:"
        );
        assert_eq!(completion, " Crucible");
    }
}
