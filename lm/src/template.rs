//! A model's chat template (`chat_template` in `tokenizer_config.json`, or `chat_template.jinja` beside
//! it), rendered as Hugging Face's `apply_chat_template` renders it: Jinja with `trim_blocks` and
//! `lstrip_blocks`, loop controls, Python's string methods, `raise_exception`, a `tojson` with
//! Python's separators, and the tokenizer's special tokens (`bos_token`, `eos_token`, …) as variables.
//! No `strftime_now` is given, so templates that would print today's date print their own fallback:
//! the same submission scores the same whatever the day.
//!
//! The scored tokens of a conversation are its assistant messages' (`assistant_spans`): for each, from
//! the end of the conversation before it rendered with the generation prompt to the end of the
//! conversation up to it, so the message's text and the end-of-turn tokens the template puts after it.

use std::path::Path;

use minijinja::{Environment, ErrorKind, Value as Jinja};
use serde_json::{Value, json};

use crate::Error;

pub struct ChatTemplate {
    env: Environment<'static>,
    /// The special tokens the template may name, by their variable name.
    tokens: serde_json::Map<String, Value>,
}

/// The tokenizer settings the special tokens come from.
const SPECIAL_TOKENS: [&str; 7] = [
    "bos_token",
    "eos_token",
    "unk_token",
    "pad_token",
    "sep_token",
    "cls_token",
    "mask_token",
];

impl ChatTemplate {
    /// The chat template of the model in `dir`, if it has one.
    pub fn load(dir: &Path) -> Result<Option<ChatTemplate>, Error> {
        let config_path = dir.join("tokenizer_config.json");
        let config: Value = match std::fs::read_to_string(&config_path) {
            Ok(text) => serde_json::from_str(&text).map_err(|err| {
                Error::Model(format!("{} is not JSON: {err}", config_path.display()))
            })?,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => json!({}),
            Err(err) => return Err(Error::io(&config_path, err)),
        };
        let jinja_path = dir.join("chat_template.jinja");
        let source = if jinja_path.is_file() {
            Some(std::fs::read_to_string(&jinja_path).map_err(|err| Error::io(&jinja_path, err))?)
        } else {
            match config.get("chat_template") {
                Some(Value::String(source)) => Some(source.clone()),
                // A list of named templates: the one named "default".
                Some(Value::Array(named)) => named
                    .iter()
                    .find(|t| t.get("name").and_then(Value::as_str) == Some("default"))
                    .and_then(|t| t.get("template"))
                    .and_then(Value::as_str)
                    .map(str::to_string),
                _ => None,
            }
        };
        let Some(source) = source else {
            return Ok(None);
        };
        let mut tokens = serde_json::Map::new();
        for name in SPECIAL_TOKENS {
            let token = match config.get(name) {
                Some(Value::String(token)) => Some(token.clone()),
                Some(Value::Object(added)) => added
                    .get("content")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                _ => None,
            };
            if let Some(token) = token {
                tokens.insert(name.to_string(), Value::String(token));
            }
        }
        ChatTemplate::new(source, tokens).map(Some)
    }

    pub fn new(
        source: String,
        tokens: serde_json::Map<String, Value>,
    ) -> Result<ChatTemplate, Error> {
        let mut env = Environment::new();
        env.set_syntax(
            minijinja::syntax::SyntaxConfig::builder()
                .trim_blocks(true)
                .lstrip_blocks(true)
                .build()
                .map_err(|err| Error::Model(format!("chat template: {err}")))?,
        );
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function(
            "raise_exception",
            |message: String| -> Result<Jinja, minijinja::Error> {
                Err(minijinja::Error::new(ErrorKind::InvalidOperation, message))
            },
        );
        env.add_filter("tojson", tojson);
        env.add_template_owned("chat", source)
            .map_err(|err| Error::Model(format!("the chat template does not parse: {err}")))?;
        Ok(ChatTemplate { env, tokens })
    }

    /// The special token a variable names (`eos_token`), if the tokenizer config gives it.
    pub fn token(&self, name: &str) -> Option<&str> {
        self.tokens.get(name).and_then(Value::as_str)
    }

    /// The conversation `messages` as text, with the prompt for the assistant's next turn when
    /// `add_generation_prompt`.
    pub fn render(&self, messages: &[Value], add_generation_prompt: bool) -> Result<String, Error> {
        let mut context = self.tokens.clone();
        context.insert("messages".into(), Value::Array(messages.to_vec()));
        context.insert(
            "add_generation_prompt".into(),
            Value::Bool(add_generation_prompt),
        );
        let template = self
            .env
            .get_template("chat")
            .expect("the template was added");
        template
            .render(minijinja::value::Serde(&context))
            .map_err(|err| {
                Error::Input(format!(
                    "the chat template cannot render this conversation: {err}"
                ))
            })
    }

    /// The conversation as text and the byte ranges of it that are assistant turns.
    pub fn assistant_spans(
        &self,
        messages: &[Value],
    ) -> Result<(String, Vec<std::ops::Range<usize>>), Error> {
        let text = self.render(messages, false)?;
        let mut spans = Vec::new();
        for (i, message) in messages.iter().enumerate() {
            if message.get("role").and_then(Value::as_str) != Some("assistant") {
                continue;
            }
            let before = self.render(&messages[..i], true)?;
            let through = self.render(&messages[..=i], false)?;
            if !through.starts_with(&before) || !text.starts_with(&through) {
                return Err(Error::Model(
                    "the chat template does not render a conversation as the conversation before it \
                     followed by its last message, so its assistant turns cannot be told apart"
                        .into(),
                ));
            }
            spans.push(before.len()..through.len());
        }
        Ok((text, spans))
    }
}

/// `tojson` as `transformers` defines it: Python's `json.dumps` with `ensure_ascii=False` (`", "` and
/// `": "` between items), `indent` when given.
fn tojson(value: &Jinja, kwargs: minijinja::value::Kwargs) -> Result<Jinja, minijinja::Error> {
    let indent: Option<usize> = kwargs.get("indent")?;
    let _: Option<bool> = kwargs.get("sort_keys")?;
    kwargs.assert_all_used()?;
    let value: Value = serde_json::to_value(value)
        .map_err(|err| minijinja::Error::new(ErrorKind::InvalidOperation, err.to_string()))?;
    let mut out = String::new();
    python_json(&value, indent, 0, &mut out);
    Ok(Jinja::from_safe_string(out))
}

fn python_json(value: &Value, indent: Option<usize>, depth: usize, out: &mut String) {
    let newline = |out: &mut String, depth: usize| {
        if let Some(width) = indent {
            out.push('\n');
            out.push_str(&" ".repeat(width * depth));
        }
    };
    let separator = if indent.is_some() { "," } else { ", " };
    match value {
        Value::Array(items) if !items.is_empty() => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(separator);
                }
                newline(out, depth + 1);
                python_json(item, indent, depth + 1, out);
            }
            newline(out, depth);
            out.push(']');
        }
        Value::Object(map) if !map.is_empty() => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(separator);
                }
                newline(out, depth + 1);
                out.push_str(&Value::String(key.clone()).to_string());
                out.push_str(": ");
                python_json(item, indent, depth + 1, out);
            }
            newline(out, depth);
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tojson_writes_as_python_does() {
        let mut out = String::new();
        python_json(&json!({"a": [1, "é"], "b": {}}), None, 0, &mut out);
        assert_eq!(out, r#"{"a": [1, "é"], "b": {}}"#);
        let mut out = String::new();
        python_json(&json!({"a": [1]}), Some(2), 0, &mut out);
        assert_eq!(out, "{\n  \"a\": [\n    1\n  ]\n}");
    }
}
