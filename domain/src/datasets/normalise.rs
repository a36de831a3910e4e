//! Checking one row against a task type's mapping and writing it in the platform's normalised JSONL
//! form (one shape per task type, the form miners and evaluators read).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::mapping::Mapping;
use super::rows::Row;
use super::task_type::TaskType;

/// Why a row was dropped. The order is the order of the report.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    Blank,
    Unparseable,
    TooLarge,
    EmptyRequiredField,
    WrongType,
    TooShort,
    TooFewMessages,
    ChosenEqualsRejected,
    /// An image without a caption file, or a caption without an image.
    Unpaired,
    Duplicate,
}

impl Reason {
    /// What the reason means, for people.
    pub fn describe(self) -> &'static str {
        match self {
            Reason::Blank => "empty row",
            Reason::Unparseable => "row that cannot be read",
            Reason::TooLarge => "row over the size limit",
            Reason::EmptyRequiredField => "required field empty",
            Reason::WrongType => "field of the wrong type",
            Reason::TooShort => "row too short",
            Reason::TooFewMessages => "chat with fewer than 2 valid messages",
            Reason::ChosenEqualsRejected => {
                "DPO row whose chosen and rejected answers are the same"
            }
            Reason::Unpaired => "image without a caption, or caption without an image",
            Reason::Duplicate => "exact duplicate of an earlier row",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub reason: Reason,
    pub detail: String,
}

fn reject(reason: Reason, detail: impl Into<String>) -> Rejection {
    Rejection {
        reason,
        detail: detail.into(),
    }
}

/// A required text field must hold at least this many characters in all (after trimming).
pub const MIN_TOTAL_CHARS: usize = 8;

/// The row in normalised form, as one JSON line (no newline), or why it is dropped.
pub fn normalise(task_type: TaskType, mapping: &Mapping, row: &Row) -> Result<String, Rejection> {
    let line = match task_type {
        TaskType::Instruct => return instruct(row, mapping),
        TaskType::Chat => json!({ "messages": messages(row, mapping)? }),
        TaskType::Dpo => return dpo(row, mapping),
        TaskType::Grpo => {
            let prompt = required(row, mapping, "prompt")?;
            check_length(&[prompt])?;
            let prompt_column = mapping.column("prompt");
            let extra: Map<String, Value> = row
                .iter()
                .filter(|(k, _)| Some(k.as_str()) != prompt_column)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            json!({ "prompt": prompt, "extra": extra })
        }
        TaskType::Image => {
            return Err(reject(
                Reason::WrongType,
                "image datasets are read from zip archives",
            ));
        }
    };
    Ok(line.to_string())
}

fn instruct(row: &Row, mapping: &Mapping) -> Result<String, Rejection> {
    let instruction = required(row, mapping, "instruction")?;
    let output = required(row, mapping, "output")?;
    check_length(&[instruction, output])?;
    let input = optional(row, mapping, "input")?;
    let system = optional(row, mapping, "system")?;
    Ok(to_line(&InstructRow {
        instruction,
        input,
        output,
        system,
    }))
}

fn dpo(row: &Row, mapping: &Mapping) -> Result<String, Rejection> {
    let chosen = preference(row, mapping, "chosen")?;
    let rejected = preference(row, mapping, "rejected")?;
    let given = match mapping.column("prompt") {
        Some(_) => Some(preference(row, mapping, "prompt")?),
        None => None,
    };
    let (prompt, chosen, rejected) = match &given {
        Some(prompt) => (
            prompt.text.as_ref(),
            chosen.text.as_ref(),
            rejected.text.as_ref(),
        ),
        None => implicit_prompt(&chosen.text, &rejected.text)?,
    };
    if chosen.trim() == rejected.trim() {
        return Err(reject(
            Reason::ChosenEqualsRejected,
            "the chosen and rejected answers are identical",
        ));
    }
    check_length(&[prompt, chosen, rejected])?;
    let system = match optional(row, mapping, "system")? {
        Some(system) => Some(system),
        None => given.as_ref().and_then(|p| p.system.as_deref()),
    };
    Ok(to_line(&DpoRow {
        prompt,
        chosen,
        rejected,
        system,
    }))
}

/// A preference row's field: its text, and the system prompt a conversation carries.
struct Preference<'r> {
    text: Cow<'r, str>,
    system: Option<String>,
}

/// A DPO field, required. Text is taken as it is; OpenAI's preference layout is read as well: an answer
/// (`preferred_output`) is a list of messages, the prompt (`input`) an object whose `messages` are the
/// conversation so far. System messages become the row's system prompt; of the rest, one message is
/// its content and several are each turn as `role: content` on a line of its own.
fn preference<'r>(
    row: &'r Row,
    mapping: &Mapping,
    role: &str,
) -> Result<Preference<'r>, Rejection> {
    let column = mapping.column(role).unwrap_or(role);
    let items = match row.get(column) {
        Some(Value::Array(items)) => items,
        Some(Value::Object(object)) => match object.get("messages") {
            Some(Value::Array(items)) => items,
            _ => {
                return Err(reject(
                    Reason::WrongType,
                    format!(
                        "column \"{column}\" ({role}) holds an object without a list of \"messages\""
                    ),
                ));
            }
        },
        _ => {
            return Ok(Preference {
                text: Cow::Borrowed(required(row, mapping, role)?),
                system: None,
            });
        }
    };
    let mut system = Vec::new();
    let mut turns = Vec::new();
    for item in items {
        let Some(message) = message(item) else {
            return Err(reject(
                Reason::WrongType,
                format!(
                    "column \"{column}\" ({role}) holds a message without a role of system, user or assistant and text content"
                ),
            ));
        };
        let (role, content) = (message["role"].as_str(), message["content"].as_str());
        match (role, content) {
            (Some("system"), Some(content)) => system.push(content.to_string()),
            (Some(role), Some(content)) => turns.push((role.to_string(), content.to_string())),
            _ => {}
        }
    }
    let text = match turns.as_slice() {
        [] => {
            return Err(reject(
                Reason::EmptyRequiredField,
                format!("column \"{column}\" ({role}) holds no user or assistant message"),
            ));
        }
        [(_, content)] => content.clone(),
        turns => turns
            .iter()
            .map(|(role, content)| format!("{role}: {content}"))
            .collect::<Vec<_>>()
            .join("\n"),
    };
    Ok(Preference {
        text: Cow::Owned(text),
        system: (!system.is_empty()).then(|| system.join("\n")),
    })
}

/// Splits two transcripts that share their beginning (the Anthropic HH-RLHF layout) into that
/// beginning, the prompt, and the two answers after it, as TRL does for an implicit prompt: at the
/// first character where they differ, a space before it going with the answers.
fn implicit_prompt<'r>(
    chosen: &'r str,
    rejected: &'r str,
) -> Result<(&'r str, &'r str, &'r str), Rejection> {
    let mut split = chosen
        .char_indices()
        .zip(rejected.chars())
        .find(|((_, a), b)| a != b)
        .map_or(chosen.len().min(rejected.len()), |((at, _), _)| at);
    if chosen[..split].ends_with(' ') {
        split -= 1;
    }
    let (prompt, chosen_answer, rejected_answer) =
        (&chosen[..split], &chosen[split..], &rejected[split..]);
    if prompt.trim().is_empty() {
        return Err(reject(
            Reason::EmptyRequiredField,
            "no prompt column is mapped and the chosen and rejected answers share no beginning to \
             take as the prompt; map a prompt column",
        ));
    }
    if chosen_answer.trim().is_empty() || rejected_answer.trim().is_empty() {
        return Err(reject(
            Reason::ChosenEqualsRejected,
            "after their shared beginning (the prompt), one of the two answers is empty",
        ));
    }
    Ok((prompt, chosen_answer, rejected_answer))
}

/// The normalised instruct row (borrowed from the parsed row: serialised without copying its text).
#[derive(Serialize)]
struct InstructRow<'r> {
    instruction: &'r str,
    input: Option<&'r str>,
    output: &'r str,
    system: Option<&'r str>,
}

#[derive(Serialize)]
struct DpoRow<'r> {
    prompt: &'r str,
    chosen: &'r str,
    rejected: &'r str,
    system: Option<&'r str>,
}

fn to_line(row: &impl Serialize) -> String {
    serde_json::to_string(row).expect("rows of strings serialise")
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a true/false value",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn optional<'r>(row: &'r Row, mapping: &Mapping, role: &str) -> Result<Option<&'r str>, Rejection> {
    let Some(column) = mapping.column(role) else {
        return Ok(None);
    };
    match row.get(column) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(reject(
            Reason::WrongType,
            format!(
                "column \"{column}\" ({role}) holds {}, not text",
                kind(other)
            ),
        )),
    }
}

fn required<'r>(row: &'r Row, mapping: &Mapping, role: &str) -> Result<&'r str, Rejection> {
    let column = mapping.column(role).unwrap_or(role);
    optional(row, mapping, role)?.ok_or_else(|| {
        reject(
            Reason::EmptyRequiredField,
            format!("column \"{column}\" ({role}) is empty"),
        )
    })
}

fn check_length(fields: &[&str]) -> Result<(), Rejection> {
    let chars: usize = fields.iter().map(|f| f.trim().chars().count()).sum();
    if chars < MIN_TOTAL_CHARS {
        return Err(reject(
            Reason::TooShort,
            format!(
                "the required fields hold {chars} characters; at least {MIN_TOTAL_CHARS} are needed"
            ),
        ));
    }
    Ok(())
}

fn messages(row: &Row, mapping: &Mapping) -> Result<Vec<Value>, Rejection> {
    let column = mapping.column("messages").unwrap_or("messages");
    let parsed;
    let items = match row.get(column) {
        None | Some(Value::Null) => {
            return Err(reject(
                Reason::EmptyRequiredField,
                format!("column \"{column}\" (messages) is empty"),
            ));
        }
        Some(Value::Array(items)) => items,
        // CSV cells hold the list as JSON text.
        Some(Value::String(text)) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Array(items)) => {
                parsed = items;
                &parsed
            }
            _ => {
                return Err(reject(
                    Reason::WrongType,
                    format!("column \"{column}\" (messages) is not a list of messages"),
                ));
            }
        },
        Some(other) => {
            return Err(reject(
                Reason::WrongType,
                format!(
                    "column \"{column}\" (messages) holds {}, not a list",
                    kind(other)
                ),
            ));
        }
    };
    let valid: Vec<Value> = items.iter().filter_map(message).collect();
    if valid.len() < 2 {
        return Err(reject(
            Reason::TooFewMessages,
            format!(
                "{} of {} messages are valid (a role of system, user or assistant and non-empty content)",
                valid.len(),
                items.len()
            ),
        ));
    }
    Ok(valid)
}

/// A message as `{"role", "content"}`, accepting the ShareGPT spelling (`from`/`value`, human/gpt).
fn message(item: &Value) -> Option<Value> {
    let object = item.as_object()?;
    let role = object
        .get("role")
        .or_else(|| object.get("from"))?
        .as_str()?;
    let role = match role.to_ascii_lowercase().as_str() {
        "system" => "system",
        "user" | "human" => "user",
        "assistant" | "gpt" | "model" | "bot" => "assistant",
        _ => return None,
    };
    let content = object
        .get("content")
        .or_else(|| object.get("value"))?
        .as_str()?;
    (!content.trim().is_empty()).then(|| json!({ "role": role, "content": content }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(value: Value) -> Row {
        value.as_object().unwrap().clone()
    }

    fn instruct() -> Mapping {
        Mapping::new([
            ("instruction".into(), "q".into()),
            ("output".into(), "a".into()),
        ])
    }

    #[test]
    fn a_row_in_openais_preference_layout_is_a_dpo_row_without_a_mapping_step() {
        let columns = ["input", "preferred_output", "non_preferred_output"].map(String::from);
        let mapping = Mapping::suggest(TaskType::Dpo, &columns);
        let line = normalise(
            TaskType::Dpo,
            &mapping,
            &row(json!({
                "input": {"messages": [
                    {"role": "system", "content": "Answer briefly."},
                    {"role": "user", "content": "What colour is the sky?"}
                ], "tools": [], "parallel_tool_calls": true},
                "preferred_output": [{"role": "assistant", "content": "Blue."}],
                "non_preferred_output": [{"role": "assistant", "content": "I cannot say."}]
            })),
        )
        .unwrap();
        let value: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            value,
            json!({"prompt": "What colour is the sky?", "chosen": "Blue.", "rejected": "I cannot say.", "system": "Answer briefly."})
        );
        let empty = json!({
            "input": {"messages": [{"role": "user", "content": "What colour is the sky?"}]},
            "preferred_output": [],
            "non_preferred_output": [{"role": "assistant", "content": "I cannot say."}]
        });
        let refused = normalise(TaskType::Dpo, &mapping, &row(empty)).unwrap_err();
        assert_eq!(refused.reason, Reason::EmptyRequiredField);
        assert!(
            refused.detail.contains("preferred_output"),
            "{}",
            refused.detail
        );
    }

    #[test]
    fn an_instruct_row_is_normalised() {
        let line = normalise(
            TaskType::Instruct,
            &instruct(),
            &row(json!({"q": "What is 2+2?", "a": "Four.", "x": 1})),
        )
        .unwrap();
        let value: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            value,
            json!({"instruction": "What is 2+2?", "input": null, "output": "Four.", "system": null})
        );
    }

    #[test]
    fn each_defect_has_its_reason() {
        let cases = [
            (
                json!({"q": "What is 2+2?", "a": "  "}),
                Reason::EmptyRequiredField,
            ),
            (json!({"q": "What is 2+2?"}), Reason::EmptyRequiredField),
            (json!({"q": "What is 2+2?", "a": 4}), Reason::WrongType),
            (json!({"q": "Hi", "a": "yo"}), Reason::TooShort),
        ];
        for (input, reason) in cases {
            let err = normalise(TaskType::Instruct, &instruct(), &row(input.clone())).unwrap_err();
            assert_eq!(err.reason, reason, "{input}: {}", err.detail);
        }
    }

    #[test]
    fn chats_need_two_valid_messages() {
        let mapping = Mapping::new([("messages".into(), "conversation".into())]);
        let good = json!({"conversation": [{"from": "human", "value": "Hello there"}, {"role": "assistant", "content": "Hi!"}]});
        assert!(normalise(TaskType::Chat, &mapping, &row(good)).is_ok());
        let thin = json!({"conversation": [{"role": "user", "content": "Hello"}, {"role": "wizard", "content": "?"}]});
        assert_eq!(
            normalise(TaskType::Chat, &mapping, &row(thin))
                .unwrap_err()
                .reason,
            Reason::TooFewMessages
        );
        let as_text = json!({"conversation": "[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"assistant\",\"content\":\"b\"}]"});
        assert!(normalise(TaskType::Chat, &mapping, &row(as_text)).is_ok());
    }

    #[test]
    fn dpo_rows_need_different_answers() {
        let mapping =
            Mapping::new(["prompt", "chosen", "rejected"].map(|r| (r.to_string(), r.to_string())));
        let same =
            json!({"prompt": "Pick one", "chosen": "Same answer", "rejected": " Same answer "});
        assert_eq!(
            normalise(TaskType::Dpo, &mapping, &row(same))
                .unwrap_err()
                .reason,
            Reason::ChosenEqualsRejected
        );
    }
}
