//! Rows as conversations, for the decoder families: each normalised row becomes chat messages, rendered
//! with the base model's chat template and tokenised with the base model's tokenizer, the assistant
//! turns scored. A model without a chat template reads rows in the reference family's plain format
//! (`text`), its prompt opened as its tokenizer opens a text, its completion closed by its first end
//! token.
//! - instruct: `system` (when given), `user` = the instruction, then a blank line and the input when
//!   there is one, `assistant` = the output;
//! - chat: the messages as they are (`role`, `content`);
//! - dpo: `system`, `user` = the prompt, then the chosen or the rejected answer as the assistant's;
//! - grpo: `system`, `user` = the prompt, and the generation prompt.

use std::path::Path;

use serde_json::{Value, json};
use tokenizers::Tokenizer;

use crate::Error;
use crate::decoder::config::Layout;
use crate::template::ChatTemplate;
use crate::text::{self, Sequence};

/// The base model's ruler for a decoder family: its tokenizer, its chat template if it has one, its
/// end tokens.
pub struct Conversations {
    tokenizer: Tokenizer,
    template: Option<ChatTemplate>,
    /// The tokens that end a turn (generation stops at any).
    pub ends: Vec<u32>,
}

impl Conversations {
    pub fn load(dir: &Path, layout: &Layout) -> Result<Conversations, Error> {
        let path = dir.join("tokenizer.json");
        let tokenizer = Tokenizer::from_file(&path)
            .map_err(|err| Error::Model(format!("{} is not a tokenizer: {err}", path.display())))?;
        let template = ChatTemplate::load(dir)?;
        let mut ends = layout.eos.clone();
        if let Some(t) = &template
            && let Some(eos) = t
                .token("eos_token")
                .and_then(|token| tokenizer.token_to_id(token))
            && !ends.contains(&eos)
        {
            ends.push(eos);
        }
        if ends.is_empty() {
            return Err(Error::Model(
                "the base model names no end token (eos_token_id in config.json)".into(),
            ));
        }
        Ok(Conversations {
            tokenizer,
            template,
            ends,
        })
    }

    pub fn has_template(&self) -> bool {
        self.template.is_some()
    }

    /// An instruct or chat row (as `task_type` says) as a scored sequence, or `None` when the row is
    /// not one.
    pub fn completion(
        &self,
        row: &Value,
        task_type: &str,
        limit: usize,
    ) -> Result<Option<Sequence>, Error> {
        let messages = match task_type {
            "chat" => chat_messages(row),
            _ => instruct_messages(row),
        };
        let Some(messages) = messages else {
            return Ok(None);
        };
        match &self.template {
            Some(template) => self.templated(template, &messages, limit).map(Some),
            None => {
                let plain = if task_type == "chat" {
                    text::chat(row)
                } else {
                    text::instruct(row)
                };
                plain
                    .map(|(prompt, completion)| self.plain(&prompt, &completion, limit))
                    .transpose()
            }
        }
    }

    /// A preference row as its (chosen, rejected) sequences.
    pub fn preference(
        &self,
        row: &Value,
        limit: usize,
    ) -> Result<Option<(Sequence, Sequence)>, Error> {
        let field = |name: &str| row.get(name).and_then(Value::as_str);
        let (Some(_), Some(chosen), Some(rejected)) =
            (field("prompt"), field("chosen"), field("rejected"))
        else {
            return Ok(None);
        };
        match &self.template {
            Some(template) => {
                let prompt = prompt_messages(row).expect("the prompt was read above");
                let with = |answer: &str| {
                    let mut messages = prompt.clone();
                    messages.push(json!({"role": "assistant", "content": answer}));
                    self.templated(template, &messages, limit)
                };
                Ok(Some((with(chosen)?, with(rejected)?)))
            }
            None => {
                let (prompt, chosen, rejected) =
                    text::preference(row).expect("the fields were read above");
                Ok(Some((
                    self.plain(&prompt, &chosen, limit)?,
                    self.plain(&prompt, &rejected, limit)?,
                )))
            }
        }
    }

    /// A GRPO row's prompt as tokens, ready for the assistant's answer.
    pub fn prompt(&self, row: &Value) -> Result<Option<Vec<u32>>, Error> {
        match (&self.template, prompt_messages(row)) {
            (_, None) => Ok(None),
            (Some(template), Some(messages)) => {
                let text = template.render(&messages, true)?;
                Ok(Some(self.encode(&text, false)?.get_ids().to_vec()))
            }
            (None, Some(_)) => {
                let prompt = text::grpo_prompt(row).expect("the prompt was read above");
                Ok(Some(self.encode(&prompt, true)?.get_ids().to_vec()))
            }
        }
    }

    pub fn decode(&self, ids: &[u32]) -> Result<String, Error> {
        self.tokenizer
            .decode(ids, true)
            .map_err(|err| Error::Model(format!("decoding failed: {err}")))
    }

    /// The conversation through the template, its assistant turns scored; cut from its start when it
    /// is longer than `limit`.
    fn templated(
        &self,
        template: &ChatTemplate,
        messages: &[Value],
        limit: usize,
    ) -> Result<Sequence, Error> {
        let (text, spans) = template.assistant_spans(messages)?;
        let encoding = self.encode(&text, false)?;
        let (ids, offsets) = (encoding.get_ids(), encoding.get_offsets());
        let scored: Vec<bool> = offsets
            .iter()
            .map(|(start, _)| spans.iter().any(|span| span.contains(start)))
            .collect();
        let cut = ids.len().saturating_sub(limit);
        Ok(Sequence {
            ids: ids[cut..].to_vec(),
            scored: scored[cut..].to_vec(),
        })
    }

    /// The plain format: the prompt as the tokenizer opens a text (its beginning token, if any), the
    /// completion and the first end token scored.
    fn plain(&self, prompt: &str, completion: &str, limit: usize) -> Result<Sequence, Error> {
        let prompt = self.encode(prompt, true)?.get_ids().to_vec();
        let completion = self.encode(completion, false)?.get_ids().to_vec();
        Ok(Sequence::of(prompt, completion, self.ends[0], limit))
    }

    /// Token ids with their byte offsets in `text`.
    fn encode(&self, text: &str, special: bool) -> Result<tokenizers::Encoding, Error> {
        self.tokenizer
            .encode(text, special)
            .map_err(|err| Error::Model(format!("tokenizing failed: {err}")))
    }
}

fn instruct_messages(row: &Value) -> Option<Vec<Value>> {
    let field = |name: &str| {
        row.get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let mut user = field("instruction")?.to_string();
    if let Some(input) = field("input") {
        user.push_str("\n\n");
        user.push_str(input);
    }
    let mut messages = system(row);
    messages.push(json!({"role": "user", "content": user}));
    messages.push(json!({"role": "assistant", "content": field("output")?}));
    Some(messages)
}

fn chat_messages(row: &Value) -> Option<Vec<Value>> {
    let messages: Vec<Value> = row
        .get("messages")?
        .as_array()?
        .iter()
        .map(|m| {
            Some(json!({
                "role": m.get("role")?.as_str()?,
                "content": m.get("content").and_then(Value::as_str).unwrap_or(""),
            }))
        })
        .collect::<Option<_>>()?;
    messages
        .iter()
        .any(|m| m["role"] == "assistant")
        .then_some(messages)
}

/// A DPO or GRPO row's prompt as messages.
fn prompt_messages(row: &Value) -> Option<Vec<Value>> {
    let prompt = row.get("prompt").and_then(Value::as_str)?;
    let mut messages = system(row);
    messages.push(json!({"role": "user", "content": prompt}));
    Some(messages)
}

fn system(row: &Value) -> Vec<Value> {
    row.get("system")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(|s| vec![json!({"role": "system", "content": s})])
        .unwrap_or_default()
}
