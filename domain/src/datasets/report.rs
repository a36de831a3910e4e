//! The validation report: how many rows were read, kept and dropped, why, with examples.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::normalise::Reason;

/// Examples kept per reason.
pub const EXAMPLES_PER_REASON: usize = 5;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Report {
    pub total_rows: u64,
    pub usable_rows: u64,
    pub train_rows: u64,
    pub test_rows: u64,
    /// Rows with nothing in them (blank lines, rows whose mapped fields are all empty).
    pub empty_rows: u64,
    pub rejected: BTreeMap<Reason, Rejected>,
    /// Why the dataset cannot be used, when it cannot.
    pub refusal: Option<String>,
    /// Where the test rows came from when the owner gave their own test file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub own_test: Option<OwnTest>,
    /// How validation read the rows where the owner may want to know (an implicit prompt, say).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// The owner's own test file, as validation found it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OwnTest {
    pub dataset_id: String,
    pub name: String,
    pub total_rows: u64,
    pub usable_rows: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Rejected {
    pub count: u64,
    pub description: String,
    pub examples: Vec<Example>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Example {
    /// 1-based line of the file (the item's position for a JSON array).
    pub line: u64,
    pub detail: String,
    pub excerpt: String,
}

impl Report {
    pub fn reject(
        &mut self,
        reason: Reason,
        line: u64,
        detail: impl FnOnce() -> String,
        excerpt: impl FnOnce() -> String,
    ) {
        let entry = self.rejected.entry(reason).or_insert_with(|| Rejected {
            description: reason.describe().to_string(),
            ..Rejected::default()
        });
        entry.count += 1;
        if entry.examples.len() < EXAMPLES_PER_REASON {
            entry.examples.push(Example {
                line,
                detail: detail(),
                excerpt: excerpt(),
            });
        }
    }
}
