//! An email address, trimmed and lower-cased, checked for a plausible shape.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Email(String);

impl Email {
    pub fn parse(input: &str) -> Result<Self> {
        let email = input.trim().to_lowercase();
        let invalid = |why: &str| {
            Error::invalid(
                "email",
                format!("{why}; enter an address like name@example.com"),
            )
        };
        if email.is_empty() {
            return Err(invalid("the email address is empty"));
        }
        if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid("the email address is too long or contains spaces"));
        }
        match email.split_once('@') {
            Some((local, domain))
                if !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains('@') =>
            {
                Ok(Email(email))
            }
            _ => Err(invalid("this is not an email address")),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::Email;

    #[test]
    fn normalises_case_and_spaces() {
        assert_eq!(
            Email::parse("  Ada@Example.ORG ").unwrap().as_str(),
            "ada@example.org"
        );
    }

    #[test]
    fn refuses_what_is_not_an_address() {
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.org",
            "ada@example",
            "a b@example.org",
            "a@b@c.org",
        ] {
            let err = Email::parse(bad).unwrap_err();
            assert!(err.to_string().contains("name@example.com"), "{bad}: {err}");
        }
    }
}
