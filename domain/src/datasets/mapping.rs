//! Column mappings: which column of the customer's file fills each role of a task type.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::task_type::TaskType;
use crate::error::{Error, Result};

/// Role → source column, checked against a task type and a file's columns.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct Mapping(BTreeMap<String, String>);

/// Column names that usually hold each role, most likely first.
const SYNONYMS: &[(&str, &[&str])] = &[
    (
        "instruction",
        &[
            "instruction",
            "prompt",
            "question",
            "query",
            "instruct",
            "task",
        ],
    ),
    ("input", &["input", "context", "passage"]),
    (
        "output",
        &[
            "output",
            "response",
            "answer",
            "completion",
            "target",
            "reply",
        ],
    ),
    ("system", &["system", "system_prompt", "persona"]),
    (
        "messages",
        &[
            "messages",
            "conversation",
            "conversations",
            "chat",
            "dialog",
            "dialogue",
        ],
    ),
    (
        "prompt",
        &["prompt", "question", "instruction", "query", "input"],
    ),
    (
        "chosen",
        &[
            "chosen",
            "preferred",
            "accepted",
            "better",
            "preferred_output",
        ],
    ),
    (
        "rejected",
        &["rejected", "dispreferred", "worse", "non_preferred_output"],
    ),
];

impl Mapping {
    pub fn new(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        Mapping(pairs.into_iter().collect())
    }

    /// The column mapped to `role`, if any.
    pub fn column(&self, role: &str) -> Option<&str> {
        self.0.get(role).map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(r, c)| (r.as_str(), c.as_str()))
    }

    /// A mapping guessed from column names (case-insensitive), each column used at most once.
    pub fn suggest(task_type: TaskType, columns: &[String]) -> Mapping {
        let (required, optional) = task_type.roles();
        let mut taken: Vec<&str> = Vec::new();
        let mut mapping = BTreeMap::new();
        for role in required.iter().chain(optional) {
            let names = SYNONYMS
                .iter()
                .find(|(r, _)| r == role)
                .map_or(&[][..], |(_, n)| *n);
            let found = names.iter().find_map(|name| {
                columns
                    .iter()
                    .find(|c| c.eq_ignore_ascii_case(name) && !taken.contains(&c.as_str()))
            });
            if let Some(column) = found {
                taken.push(column);
                mapping.insert(role.to_string(), column.clone());
            }
        }
        Mapping(mapping)
    }

    /// Checks that every required role is mapped, to a column the file has, and nothing else is.
    pub fn check(&self, task_type: TaskType, columns: &[String]) -> Result<()> {
        let (required, optional) = task_type.roles();
        for role in required {
            if !self.0.contains_key(*role) {
                return Err(Error::invalid(
                    "mapping",
                    format!(
                        "map the role \"{role}\" to one of the columns: {}",
                        columns.join(", ")
                    ),
                ));
            }
        }
        for (role, column) in &self.0 {
            if !required.contains(&role.as_str()) && !optional.contains(&role.as_str()) {
                let known: Vec<&str> = required.iter().chain(optional).copied().collect();
                return Err(Error::invalid(
                    "mapping",
                    format!(
                        "a {} task has no role \"{role}\"; its roles are {}",
                        task_type.as_str(),
                        known.join(", ")
                    ),
                ));
            }
            if !columns.contains(column) {
                return Err(Error::invalid(
                    "mapping",
                    format!(
                        "role \"{role}\" names column \"{column}\", which the file does not have; its columns are {}",
                        columns.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn suggests_roles_from_common_column_names() {
        let mapping = Mapping::suggest(TaskType::Instruct, &cols(&["Question", "answer", "id"]));
        assert_eq!(mapping.column("instruction"), Some("Question"));
        assert_eq!(mapping.column("output"), Some("answer"));
        assert_eq!(mapping.column("input"), None);
        let dpo = Mapping::suggest(TaskType::Dpo, &cols(&["prompt", "chosen", "rejected"]));
        assert!(
            dpo.check(TaskType::Dpo, &cols(&["prompt", "chosen", "rejected"]))
                .is_ok()
        );
    }

    #[test]
    fn a_missing_role_or_column_is_named() {
        let columns = cols(&["q", "a"]);
        let err = Mapping::new([("instruction".into(), "q".into())])
            .check(TaskType::Instruct, &columns)
            .unwrap_err();
        assert!(err.to_string().contains("\"output\""), "{err}");
        let err = Mapping::new([
            ("instruction".into(), "q".into()),
            ("output".into(), "z".into()),
        ])
        .check(TaskType::Instruct, &columns)
        .unwrap_err();
        assert!(err.to_string().contains("column \"z\""), "{err}");
    }
}
