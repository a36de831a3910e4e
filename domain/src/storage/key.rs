//! Object keys: relative paths of safe segments, so that a key can never name anything outside the
//! store's directory or prefix.

use std::fmt;

use super::error::StorageError;

const MAX_LEN: usize = 1024;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ObjectKey(String);

impl ObjectKey {
    /// `segments/joined/by/slashes`, each of ASCII letters, digits, `-`, `_`, `.` and `=`, none empty and
    /// none starting with a dot (which also rules out `.` and `..`).
    pub fn new(key: impl Into<String>) -> Result<Self, StorageError> {
        let key = key.into();
        let invalid = |reason| {
            Err(StorageError::InvalidKey {
                key: key.clone(),
                reason,
            })
        };
        if key.is_empty() || key.len() > MAX_LEN {
            return invalid("a key has 1 to 1024 bytes");
        }
        for segment in key.split('/') {
            if segment.is_empty() {
                return invalid(
                    "a key has no empty segments (no leading, trailing or double slash)",
                );
            }
            if segment.starts_with('.') {
                return invalid("no segment of a key starts with a dot");
            }
            if !segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.=".contains(&b))
            {
                return invalid("a key has only letters, digits, '-', '_', '.', '=' and '/'");
            }
        }
        Ok(ObjectKey(key))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::ObjectKey;

    #[test]
    fn accepts_nested_plain_keys() {
        assert!(ObjectKey::new("datasets/0199/train.jsonl").is_ok());
    }

    #[test]
    fn refuses_keys_that_could_escape() {
        for bad in [
            "",
            "/etc/passwd",
            "a/../../b",
            "..",
            "a//b",
            "a/",
            ".hidden",
            "a\\b",
            "a b",
            "é",
        ] {
            assert!(ObjectKey::new(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
