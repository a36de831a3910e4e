//! A GRPO task's reward functions, as the customer declares them when creating the task. They are kept
//! with the task and carried to the evaluator in `spec.json` (`grpo_rewards`), which scores each
//! submission by minus the weighted mean reward of its completions (docs/evaluator.md). The functions
//! are the evaluator's built-in ones; this module refuses what the evaluator could not run, before
//! any miner trains for it.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One reward function and its weight.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RewardFunction {
    /// `length`, `regex`, `json_valid` or `keywords`.
    pub name: String,
    pub weight: f64,
    /// `regex` only: the pattern a completion must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// `length` only: the length in characters that scores 1 (200 when not given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<usize>,
    /// `keywords` only: the words to find; otherwise each row's `extra.keywords`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
}

/// The functions the evaluator knows.
pub const NAMES: [&str; 4] = ["length", "regex", "json_valid", "keywords"];

/// The most functions one task may declare.
pub const MAX_FUNCTIONS: usize = 16;

/// What a GRPO task that declares no function is scored by: the completion's length.
pub fn default_functions() -> Vec<RewardFunction> {
    vec![RewardFunction {
        name: "length".into(),
        weight: 1.0,
        pattern: None,
        target: None,
        keywords: Vec::new(),
    }]
}

/// Checks a declared list: known functions with their parameters, weights ≥ 0 with at least one
/// above 0 (all zero would rank every submission alike and hand the win to the earliest).
pub fn check(functions: &[RewardFunction]) -> Result<()> {
    let field = "reward_functions";
    if functions.is_empty() || functions.len() > MAX_FUNCTIONS {
        return Err(Error::invalid(
            field,
            format!("declare 1 to {MAX_FUNCTIONS} reward functions"),
        ));
    }
    for (i, function) in functions.iter().enumerate() {
        let at = |what: &str| format!("reward function {} ({}): {what}", i + 1, function.name);
        if !NAMES.contains(&function.name.as_str()) {
            return Err(Error::invalid(
                field,
                at(&format!("unknown; use one of {}", NAMES.join(", "))),
            ));
        }
        if !(function.weight.is_finite() && function.weight >= 0.0) {
            return Err(Error::invalid(field, at("the weight must be a number ≥ 0")));
        }
        match function.name.as_str() {
            "regex" => {
                let pattern = function
                    .pattern
                    .as_deref()
                    .ok_or_else(|| Error::invalid(field, at("give the pattern to match")))?;
                regex::Regex::new(pattern)
                    .map_err(|err| Error::invalid(field, at(&format!("the pattern: {err}"))))?;
            }
            "length" if function.target == Some(0) => {
                return Err(Error::invalid(field, at("the target length must be ≥ 1")));
            }
            _ => {}
        }
    }
    if functions.iter().all(|f| f.weight == 0.0) {
        return Err(Error::invalid(
            field,
            "at least one reward function needs a weight above 0",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn function(name: &str, weight: f64) -> RewardFunction {
        RewardFunction {
            name: name.into(),
            weight,
            pattern: None,
            target: None,
            keywords: Vec::new(),
        }
    }

    #[test]
    fn what_the_evaluator_cannot_run_is_refused_with_the_function_named() {
        let refused = |functions: &[RewardFunction], says: &str| {
            let message = check(functions).unwrap_err().to_string();
            assert!(message.contains(says), "{message}");
        };
        refused(
            &[function("vibes", 1.0)],
            "reward function 1 (vibes): unknown",
        );
        refused(
            &[function("length", 1.0), function("json_valid", -0.5)],
            "reward function 2 (json_valid): the weight",
        );
        refused(&[function("regex", 1.0)], "give the pattern");
        let bad_pattern = RewardFunction {
            pattern: Some("(".into()),
            ..function("regex", 1.0)
        };
        refused(&[bad_pattern], "the pattern:");
        refused(&[function("length", 0.0)], "weight above 0");
        refused(&[], "declare 1 to 16");
        assert!(check(&[function("length", 0.0), function("json_valid", 2.0)]).is_ok());
        assert!(check(&default_functions()).is_ok());
    }
}
