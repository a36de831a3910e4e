//! Passwords: length rules and argon2 hashing, run on the blocking pool so that hashing never stalls
//! the async executor, and a few at a time: each hash takes 19 MiB, so hundreds of anonymous sign-ins
//! at once would otherwise take gigabytes. A request that waits too long for its turn is refused with
//! a retry time instead of queueing without end.

use std::sync::LazyLock;
use std::time::Duration;

use tokio::sync::Semaphore;

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

/// How many hashes run at once: one per core, and at least two.
pub static HASHING: LazyLock<Semaphore> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    Semaphore::new(cores.max(2))
});

/// How long a request waits for its turn to hash before it is refused.
const WAIT: Duration = Duration::from_secs(10);

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    let busy = || Error::RateLimited {
        message: "too many sign-ins and sign-ups at once; try again in a few seconds".into(),
        retry_after_secs: 5,
    };
    let permit = tokio::time::timeout(WAIT, HASHING.acquire())
        .await
        .map_err(|_| busy())?
        .map_err(|_| busy())?;
    let result = tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| Error::Internal(format!("password task failed: {err}")))?;
    drop(permit);
    result
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn hundreds_of_checks_at_once_hash_no_more_than_the_bound_side_by_side() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let bound = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .max(2);
        let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let checks: Vec<_> = (0..200)
            .map(|_| {
                let (running, most) = (running.clone(), most.clone());
                tokio::spawn(blocking(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(2));
                    running.fetch_sub(1, Ordering::SeqCst);
                    Ok(())
                }))
            })
            .collect();
        for check in checks {
            check.await.unwrap().unwrap();
        }
        let most = most.load(Ordering::SeqCst);
        assert!(
            (1..=bound).contains(&most),
            "{most} hashes ran at once; the bound is {bound}"
        );
    }

    #[test]
    fn short_passwords_are_refused_with_the_rule() {
        let err = Password::new("short").unwrap_err();
        assert!(err.to_string().contains("at least 10 characters"));
    }
}
