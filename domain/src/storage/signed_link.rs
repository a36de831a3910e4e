//! Short-lived links to objects in the local store, signed with the deployment's key (S3 presigns
//! its own). A link names the object, the access it grants and its expiry; the signature covers all three.

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::ObjectKey;
use crate::clock::{Millis, now_ms};
use crate::secret::Secret;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkAccess {
    Read,
    Write,
}

impl LinkAccess {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkAccess::Read => "read",
            LinkAccess::Write => "write",
        }
    }
}

#[derive(Clone, Debug)]
pub struct LinkSigner {
    key: Secret<Vec<u8>>,
    /// The server's public base URL, e.g. `http://127.0.0.1:3000`.
    base_url: String,
}

/// Why a link was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("this link expired; ask for a new one")]
    Expired,
    #[error("this link's signature does not match; use the link exactly as it was given")]
    BadSignature,
}

impl LinkSigner {
    pub fn new(key: Secret<Vec<u8>>, base_url: impl Into<String>) -> Self {
        LinkSigner {
            key,
            base_url: base_url.into().trim_end_matches('/').to_string(),
        }
    }

    pub fn link(&self, key: &ObjectKey, access: LinkAccess, ttl: Duration) -> String {
        let expires = now_ms() + i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2);
        let signature = self.sign(key, access, expires);
        format!(
            "{}/objects/{key}?access={}&expires={expires}&signature={signature}",
            self.base_url,
            access.as_str()
        )
    }

    pub fn verify(
        &self,
        key: &ObjectKey,
        access: LinkAccess,
        expires: Millis,
        signature: &str,
    ) -> Result<(), LinkError> {
        let presented = hex::decode(signature).map_err(|_| LinkError::BadSignature)?;
        self.mac(key, access, expires)
            .verify_slice(&presented)
            .map_err(|_| LinkError::BadSignature)?;
        if expires <= now_ms() {
            return Err(LinkError::Expired);
        }
        Ok(())
    }

    fn sign(&self, key: &ObjectKey, access: LinkAccess, expires: Millis) -> String {
        hex::encode(self.mac(key, access, expires).finalize().into_bytes())
    }

    fn mac(&self, key: &ObjectKey, access: LinkAccess, expires: Millis) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(self.key.expose()).expect("HMAC takes any key length");
        mac.update(format!("{}\n{key}\n{expires}", access.as_str()).as_bytes());
        mac
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> LinkSigner {
        LinkSigner::new(Secret::new(b"test key".to_vec()), "http://127.0.0.1:3000/")
    }

    fn parts(link: &str) -> (i64, String) {
        let query = link.split_once('?').unwrap().1;
        let field = |name: &str| {
            query
                .split('&')
                .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
                .unwrap()
                .to_string()
        };
        (field("expires").parse().unwrap(), field("signature"))
    }

    #[test]
    fn a_link_verifies_for_its_key_and_access_only() {
        let key = ObjectKey::new("a/b.jsonl").unwrap();
        let link = signer().link(&key, LinkAccess::Read, Duration::from_secs(60));
        assert!(link.starts_with("http://127.0.0.1:3000/objects/a/b.jsonl?access=read&"));
        let (expires, signature) = parts(&link);
        assert_eq!(
            signer().verify(&key, LinkAccess::Read, expires, &signature),
            Ok(())
        );
        assert_eq!(
            signer().verify(&key, LinkAccess::Write, expires, &signature),
            Err(LinkError::BadSignature)
        );
        let other = ObjectKey::new("a/c.jsonl").unwrap();
        assert_eq!(
            signer().verify(&other, LinkAccess::Read, expires, &signature),
            Err(LinkError::BadSignature)
        );
        assert_eq!(
            signer().verify(&key, LinkAccess::Read, expires + 1, &signature),
            Err(LinkError::BadSignature)
        );
    }

    #[test]
    fn an_expired_link_is_refused() {
        let key = ObjectKey::new("a").unwrap();
        let link = signer().link(&key, LinkAccess::Read, Duration::ZERO);
        let (expires, signature) = parts(&link);
        assert_eq!(
            signer().verify(&key, LinkAccess::Read, expires, &signature),
            Err(LinkError::Expired)
        );
    }
}
