//! The kinds of fine-tuning task, and the columns each one needs.

use serde::{Deserialize, Serialize};

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
#[serde(rename_all = "lowercase")]
pub enum TaskType {
    Instruct,
    Chat,
    Dpo,
    Grpo,
    Image,
}

impl TaskType {
    pub const ALL: [TaskType; 5] = [
        TaskType::Instruct,
        TaskType::Chat,
        TaskType::Dpo,
        TaskType::Grpo,
        TaskType::Image,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskType::Instruct => "instruct",
            TaskType::Chat => "chat",
            TaskType::Dpo => "dpo",
            TaskType::Grpo => "grpo",
            TaskType::Image => "image",
        }
    }

    pub fn parse(s: &str) -> Option<TaskType> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The roles a mapping must fill for this type, then those it may fill.
    pub fn roles(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            TaskType::Instruct => (&["instruction", "output"], &["input", "system"]),
            TaskType::Chat => (&["messages"], &[]),
            // Without a prompt column the prompt is the beginning chosen and rejected share.
            TaskType::Dpo => (&["chosen", "rejected"], &["prompt", "system"]),
            TaskType::Grpo => (&["prompt"], &[]),
            TaskType::Image => (&[], &[]),
        }
    }
}
