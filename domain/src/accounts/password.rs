//! Passwords: length rules and argon2 hashing, run on the blocking pool so that hashing never stalls
//! the async executor.

use argon2::Argon2;
use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};

use crate::error::{Error, Result};
use crate::secret::Secret;

pub const MIN_LENGTH: usize = 10;
pub const MAX_LENGTH: usize = 256;

/// A new password that meets the length rules.
#[derive(Clone, Debug)]
pub struct Password(Secret<String>);

impl Password {
    pub fn new(input: &str) -> Result<Self> {
        let chars = input.chars().count();
        if chars < MIN_LENGTH {
            return Err(Error::invalid(
                "password",
                format!("the password must have at least {MIN_LENGTH} characters"),
            ));
        }
        if chars > MAX_LENGTH {
            return Err(Error::invalid(
                "password",
                format!("the password must have at most {MAX_LENGTH} characters"),
            ));
        }
        Ok(Password(Secret::new(input.to_string())))
    }

    /// The argon2id PHC string for this password.
    pub async fn hash(&self) -> Result<String> {
        let password = self.0.clone();
        blocking(move || {
            let salt = SaltString::generate(&mut OsRng);
            Argon2::default()
                .hash_password(password.expose().as_bytes(), &salt)
                .map(|hash| hash.to_string())
                .map_err(|err| Error::Internal(format!("hashing a password: {err}")))
        })
        .await
    }
}

/// Whether `password` matches `stored`. With no stored hash (an unknown account) a dummy hash is checked,
/// so that the answer takes as long as for a real account.
pub async fn verify(password: &str, stored: Option<String>) -> Result<bool> {
    let password = Secret::new(password.to_string());
    blocking(move || {
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| DUMMY_HASH.to_string());
        let parsed = PasswordHash::new(&hash).map_err(|err| {
            Error::Internal(format!("a stored password hash is malformed: {err}"))
        })?;
        let matches = Argon2::default()
            .verify_password(password.expose().as_bytes(), &parsed)
            .is_ok();
        Ok(known && matches)
    })
    .await
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| Error::Internal(format!("password task failed: {err}")))?
}

/// The argon2id hash of a random string nobody knows, with default parameters.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Yz5AUAHyAr2RZ0dLcmWlfvsNyUrJhjB2jVmpBj+TxDc";

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let hash = Password::new("correct horse battery")
            .unwrap()
            .hash()
            .await
            .unwrap();
        assert!(
            verify("correct horse battery", Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(!verify("correct horse battery!", Some(hash)).await.unwrap());
    }

    #[tokio::test]
    async fn an_unknown_account_never_verifies() {
        assert!(!verify("anything at all", None).await.unwrap());
    }

    #[test]
    fn short_passwords_are_refused_with_the_rule() {
        let err = Password::new("short").unwrap_err();
        assert!(err.to_string().contains("at least 10 characters"));
    }
}
