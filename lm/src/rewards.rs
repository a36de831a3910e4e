//! GRPO's built-in reward functions, each between 0 and 1, weighted by the task's spec:
//! - `length`: the completion's length in characters towards `target` (200 by default), 1 at or past it;
//! - `regex`: 1 when the completion matches `pattern`;
//! - `json_valid`: 1 when the completion parses as JSON;
//! - `keywords`: the share of the keywords present (`keywords` in the spec, or the row's
//!   `extra.keywords`), case-insensitive.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Error;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reward {
    pub name: String,
    pub weight: f64,
    /// `regex` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// `length` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<usize>,
    /// `keywords` only; otherwise the row's `extra.keywords`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
}

/// What a GRPO task names no reward function for is scored by: `length` alone.
pub fn defaults() -> Vec<Reward> {
    vec![Reward {
        name: "length".into(),
        weight: 1.0,
        pattern: None,
        target: None,
        keywords: Vec::new(),
    }]
}

/// Refuses an unknown function, a negative weight or a pattern that does not compile.
pub fn check(rewards: &[Reward]) -> Result<(), Error> {
    for reward in rewards {
        if !(reward.weight >= 0.0 && reward.weight.is_finite()) {
            return Err(Error::Input(format!(
                "reward {}: the weight must be ≥ 0",
                reward.name
            )));
        }
        match reward.name.as_str() {
            "length" | "json_valid" | "keywords" => {}
            "regex" => {
                let pattern = reward
                    .pattern
                    .as_deref()
                    .ok_or_else(|| Error::Input("reward regex needs a pattern".into()))?;
                regex::Regex::new(pattern)
                    .map_err(|err| Error::Input(format!("reward regex: {err}")))?;
            }
            other => {
                return Err(Error::Input(format!(
                    "unknown reward function {other:?}: use length, regex, json_valid or keywords"
                )));
            }
        }
    }
    Ok(())
}

/// The weighted sum of `rewards` for `completion` of `row` (checked with `check` first).
pub fn score(rewards: &[Reward], completion: &str, row: &Value) -> f64 {
    rewards
        .iter()
        .map(|reward| reward.weight * one(reward, completion, row))
        .sum()
}

fn one(reward: &Reward, completion: &str, row: &Value) -> f64 {
    match reward.name.as_str() {
        "length" => {
            let target = reward.target.unwrap_or(200).max(1);
            (completion.chars().count().min(target)) as f64 / target as f64
        }
        "regex" => {
            let matched = reward
                .pattern
                .as_deref()
                .and_then(|p| regex::Regex::new(p).ok())
                .is_some_and(|re| re.is_match(completion));
            f64::from(u8::from(matched))
        }
        "json_valid" => f64::from(u8::from(
            serde_json::from_str::<Value>(completion.trim()).is_ok(),
        )),
        "keywords" => {
            let from_row: Vec<String> = row
                .pointer("/extra/keywords")
                .and_then(Value::as_array)
                .map(|k| {
                    k.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            let keywords = if reward.keywords.is_empty() {
                &from_row
            } else {
                &reward.keywords
            };
            if keywords.is_empty() {
                return 0.0;
            }
            let lower = completion.to_lowercase();
            let found = keywords
                .iter()
                .filter(|k| lower.contains(&k.to_lowercase()))
                .count();
            found as f64 / keywords.len() as f64
        }
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reward(name: &str, weight: f64) -> Reward {
        Reward {
            name: name.into(),
            weight,
            pattern: None,
            target: None,
            keywords: Vec::new(),
        }
    }

    #[test]
    fn each_function_scores_between_zero_and_one_and_weights_add_up() {
        let row = json!({"prompt": "p", "extra": {"keywords": ["Rust", "fast"]}});
        let length = Reward {
            target: Some(10),
            ..reward("length", 1.0)
        };
        assert_eq!(one(&length, "12345", &row), 0.5);
        assert_eq!(one(&length, "a much longer answer", &row), 1.0);
        assert_eq!(one(&reward("json_valid", 1.0), " {\"a\": 1} ", &row), 1.0);
        assert_eq!(one(&reward("json_valid", 1.0), "{a: 1}", &row), 0.0);
        assert_eq!(one(&reward("keywords", 1.0), "rust is nice", &row), 0.5);
        let regex = Reward {
            pattern: Some(r"^\d+$".into()),
            ..reward("regex", 1.0)
        };
        assert_eq!(one(&regex, "42", &row), 1.0);
        let both = [
            Reward {
                weight: 0.25,
                ..length
            },
            reward("keywords", 2.0),
        ];
        assert_eq!(score(&both, "Rust is fast", &row), 0.25 + 2.0);
    }

    #[test]
    fn unknown_functions_negative_weights_and_bad_patterns_are_refused() {
        assert!(check(&[reward("vibes", 1.0)]).is_err());
        assert!(check(&[reward("length", -1.0)]).is_err());
        assert!(
            check(&[Reward {
                pattern: Some("(".into()),
                ..reward("regex", 1.0)
            }])
            .is_err()
        );
        assert!(check(&[reward("length", 0.0), reward("json_valid", 1.0)]).is_ok());
    }
}
