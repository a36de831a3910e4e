//! Secrets the platform must read back (the secrets that sign customers' webhooks) are kept encrypted
//! with the deployment's secrets key (ChaCha20-Poly1305), which lives outside the database: in a file
//! beside the data (created on first start, readable by its owner only) or wherever the operator
//! points every replica. A copy of the database alone reveals none of them, and each is bound to its
//! row, so a sealed value moved to another row does not open.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore;

use crate::error::{Error, Result};
use crate::secret::Secret;

/// Marks a sealed value (a value stored before sealing existed has no mark and is read as it is).
pub const SEALED: &str = "sealed:v1:";

#[derive(Clone, Debug)]
pub struct Vault {
    key: Secret<[u8; 32]>,
}

impl Vault {
    pub fn new(key: [u8; 32]) -> Self {
        Vault {
            key: Secret::new(key),
        }
    }

    /// The key in `path` (64 hex digits), written there first (mode 0600) when the file is absent.
    pub fn open_or_create(path: &Path) -> std::io::Result<Vault> {
        if !path.exists() {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let mut key = [0u8; 32];
            rand::rng().fill_bytes(&mut key);
            // Written whole under a name of its own, then linked into place: a replica starting beside
            // this one never reads a key file half written.
            let mut tag = [0u8; 8];
            rand::rng().fill_bytes(&mut tag);
            let written = path.with_extension(format!("new-{}", hex::encode(tag)));
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&written)?;
            file.write_all(hex::encode(key).as_bytes())?;
            file.sync_all()?;
            let linked = std::fs::hard_link(&written, path);
            std::fs::remove_file(&written)?;
            match linked {
                Ok(()) => {}
                // Another process (a replica starting beside this one) wrote it first: use theirs.
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(err) => return Err(err),
            }
        }
        let text = std::fs::read_to_string(path)?;
        let key: [u8; 32] = hex::decode(text.trim())
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| {
                std::io::Error::other(format!(
                    "{} does not hold a secrets key (64 hex digits)",
                    path.display()
                ))
            })?;
        Ok(Vault::new(key))
    }

    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(Key::from_slice(self.key.expose()))
    }

    /// `plaintext` sealed for the row `bound_to`, as text to store.
    pub fn seal(&self, plaintext: &str, bound_to: &str) -> String {
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let payload = Payload {
            msg: plaintext.as_bytes(),
            aad: bound_to.as_bytes(),
        };
        let sealed = self
            .cipher()
            .encrypt(Nonce::from_slice(&nonce), payload)
            .expect("encrypting in memory cannot fail");
        let engine = base64::engine::general_purpose::STANDARD;
        format!(
            "{SEALED}{}",
            engine.encode([nonce.as_slice(), &sealed].concat())
        )
    }

    /// The plaintext of a value `seal` made for `bound_to` (or of a value stored before sealing).
    pub fn open(&self, stored: &str, bound_to: &str) -> Result<Secret<String>> {
        let Some(sealed) = stored.strip_prefix(SEALED) else {
            return Ok(Secret::new(stored.to_string()));
        };
        let cannot = || {
            Error::Internal(
                "a sealed secret does not open with this deployment's secrets key".into(),
            )
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(sealed)
            .map_err(|_| cannot())?;
        if bytes.len() < 12 {
            return Err(cannot());
        }
        let (nonce, ciphertext) = bytes.split_at(12);
        let payload = Payload {
            msg: ciphertext,
            aad: bound_to.as_bytes(),
        };
        let plaintext = self
            .cipher()
            .decrypt(Nonce::from_slice(nonce), payload)
            .map_err(|_| cannot())?;
        String::from_utf8(plaintext)
            .map(Secret::new)
            .map_err(|_| cannot())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicas_starting_together_all_read_the_one_key_one_of_them_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data").join("secrets.key");
        let vaults: Vec<Vault> = std::thread::scope(|scope| {
            let starts: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| Vault::open_or_create(&path)))
                .collect();
            starts
                .into_iter()
                .map(|s| s.join().unwrap().unwrap())
                .collect()
        });
        let sealed = vaults[0].seal("a webhook secret", "row");
        for vault in &vaults {
            assert_eq!(
                vault.open(&sealed, "row").unwrap().expose(),
                "a webhook secret"
            );
        }
        let left: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(left.len(), 1, "only the key file is left");
    }

    #[test]
    fn a_sealed_secret_opens_only_with_its_key_and_for_its_row() {
        let vault = Vault::new([7; 32]);
        let sealed = vault.seal("a webhook secret", "webhook-1");
        assert!(!sealed.contains("a webhook secret"));
        assert_ne!(
            sealed,
            vault.seal("a webhook secret", "webhook-1"),
            "a fresh nonce each time"
        );
        assert_eq!(
            vault.open(&sealed, "webhook-1").unwrap().expose(),
            "a webhook secret"
        );
        assert!(
            vault.open(&sealed, "webhook-2").is_err(),
            "moved to another row"
        );
        assert!(
            Vault::new([8; 32]).open(&sealed, "webhook-1").is_err(),
            "another key"
        );
        let mut tampered = sealed.clone();
        tampered.replace_range(tampered.len() - 4.., "AAAA");
        assert!(vault.open(&tampered, "webhook-1").is_err());
        assert!(
            !format!("{vault:?}").contains("7, 7"),
            "the key is never printed"
        );
    }

    #[test]
    fn the_key_file_is_made_once_and_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.key");
        let sealed = Vault::open_or_create(&path).unwrap().seal("s", "row");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = Vault::open_or_create(&path).unwrap();
        assert_eq!(
            again.open(&sealed, "row").unwrap().expose(),
            "s",
            "the same key on restart"
        );
    }
}
