//! Epistula v2: how Bittensor services sign HTTP requests, checked here so that a miner using the
//! standard Bittensor key libraries talks to the platform with no code of ours.
//!
//! A request carries `Epistula-Version: 2`, `Epistula-Timestamp` (Unix ms), `Epistula-Uuid`,
//! `Epistula-Signed-By` (the SS58 hotkey), optionally `Epistula-Signed-For`, and
//! `Epistula-Request-Signature`: `0x` + hex of the sr25519 signature (signing context `substrate`) over
//! `"{sha256(body) hex}.{uuid}.{timestamp}.{signed_for or ''}"`. `Epistula-Signed-For`, when sent, must
//! name this deployment's SS58 identity, so that a request a miner signed for another service is not
//! taken here. The replay check (a uuid seen before) needs the database and is done by the caller.

use schnorrkel::{PublicKey, Signature};
use sha2::{Digest, Sha256};

use super::hotkey::Hotkey;

/// Requests signed longer ago than this (or this far in the future) are refused.
pub const MAX_SKEW_MS: i64 = 8_000;
const SIGNING_CONTEXT: &[u8] = b"substrate";

/// The Epistula headers of a request, as sent.
#[derive(Clone, Debug, Default)]
pub struct SignedHeaders {
    pub version: Option<String>,
    pub timestamp: Option<String>,
    pub uuid: Option<String>,
    pub signed_by: Option<String>,
    pub signed_for: Option<String>,
    pub signature: Option<String>,
}

/// A request whose signature holds: who signed it, and its uuid (for the replay check).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signed {
    pub hotkey: Hotkey,
    pub uuid: String,
    pub timestamp_ms: i64,
}

/// Why a request's signature is refused; each is a 401 with this message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the request is not signed: the header {0} is missing (sign it with Epistula v2)")]
    Missing(&'static str),
    #[error("Epistula-Version {0} is not taken; sign with version 2")]
    Version(String),
    #[error("Epistula-Timestamp must be Unix milliseconds")]
    Timestamp,
    #[error("the signature is {age_ms} ms old; requests must be signed within {MAX_SKEW_MS} ms")]
    Stale { age_ms: i64 },
    #[error("the signature is dated {ahead_ms} ms in the future; check the clock")]
    Future { ahead_ms: i64 },
    #[error("Epistula-Uuid must be a UUID")]
    Uuid,
    #[error(
        "the request is signed for {named}, not for this service ({ours}): sign it for {ours}, or \
         leave Epistula-Signed-For out"
    )]
    SignedFor { named: String, ours: String },
    #[error("Epistula-Signed-By is not an SS58 hotkey: {0}")]
    Hotkey(String),
    #[error("Epistula-Request-Signature must be 0x and 128 hex digits")]
    SignatureFormat,
    #[error("the signature does not match the request and the hotkey {0}")]
    Mismatch(String),
    #[error("this request (Epistula-Uuid {0}) was seen before; sign every request anew")]
    Replayed(String),
}

/// The text an Epistula v2 signature covers.
pub fn message(body: &[u8], uuid: &str, timestamp_ms: i64, signed_for: Option<&str>) -> String {
    message_for_hash(&body_sha256(body), uuid, timestamp_ms, signed_for)
}

/// A body's SHA-256 in lower-case hex, as the signed text holds it.
pub fn body_sha256(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

fn message_for_hash(
    body_sha256_hex: &str,
    uuid: &str,
    timestamp_ms: i64,
    signed_for: Option<&str>,
) -> String {
    format!(
        "{body_sha256_hex}.{uuid}.{timestamp_ms}.{}",
        signed_for.unwrap_or("")
    )
}

/// Checks everything but the replay: the headers, the time, whom the request is for, the hotkey and
/// the signature over `body`.
pub fn verify(
    headers: &SignedHeaders,
    body: &[u8],
    now_ms: i64,
    ours: &Hotkey,
) -> Result<Signed, Refusal> {
    check_headers(headers, now_ms, ours)?.verify(&body_sha256(body))
}

/// A request whose headers are in order, its signature not yet checked against the body: for bodies
/// streamed too large to hold, whose SHA-256 is known only at their end.
pub struct Checked {
    signed: Signed,
    public: PublicKey,
    signature: Signature,
    signed_for: Option<String>,
}

impl Checked {
    pub fn signed(&self) -> &Signed {
        &self.signed
    }

    /// Checks the signature against the body's SHA-256 (lower-case hex).
    pub fn verify(self, body_sha256_hex: &str) -> Result<Signed, Refusal> {
        let signed = message_for_hash(
            body_sha256_hex,
            &self.signed.uuid,
            self.signed.timestamp_ms,
            self.signed_for.as_deref(),
        );
        self.public
            .verify_simple(SIGNING_CONTEXT, signed.as_bytes(), &self.signature)
            .map_err(|_| Refusal::Mismatch(self.signed.hotkey.to_string()))?;
        Ok(self.signed)
    }
}

/// Checks the headers, the time and whom the request is for (`ours`: this deployment's identity),
/// before the body is read.
pub fn check_headers(
    headers: &SignedHeaders,
    now_ms: i64,
    ours: &Hotkey,
) -> Result<Checked, Refusal> {
    let version = headers
        .version
        .as_deref()
        .ok_or(Refusal::Missing("Epistula-Version"))?;
    if version.trim() != "2" {
        return Err(Refusal::Version(version.to_string()));
    }
    let timestamp_ms: i64 = headers
        .timestamp
        .as_deref()
        .ok_or(Refusal::Missing("Epistula-Timestamp"))?
        .trim()
        .parse()
        .map_err(|_| Refusal::Timestamp)?;
    let age_ms = now_ms - timestamp_ms;
    if age_ms > MAX_SKEW_MS {
        return Err(Refusal::Stale { age_ms });
    }
    if -age_ms > MAX_SKEW_MS {
        return Err(Refusal::Future { ahead_ms: -age_ms });
    }
    let uuid = headers
        .uuid
        .as_deref()
        .ok_or(Refusal::Missing("Epistula-Uuid"))?;
    uuid::Uuid::parse_str(uuid).map_err(|_| Refusal::Uuid)?;
    let signed_by = headers
        .signed_by
        .as_deref()
        .ok_or(Refusal::Missing("Epistula-Signed-By"))?;
    let hotkey = Hotkey::parse(signed_by).map_err(Refusal::Hotkey)?;
    if let Some(named) = &headers.signed_for
        && named.trim() != ours.to_string()
    {
        return Err(Refusal::SignedFor {
            named: named.clone(),
            ours: ours.to_string(),
        });
    }
    let signature = headers
        .signature
        .as_deref()
        .ok_or(Refusal::Missing("Epistula-Request-Signature"))?;
    let signature = signature
        .strip_prefix("0x")
        .and_then(|hex_digits| hex::decode(hex_digits).ok())
        .and_then(|bytes| Signature::from_bytes(&bytes).ok())
        .ok_or(Refusal::SignatureFormat)?;
    let public = PublicKey::from_bytes(hotkey.public_key())
        .map_err(|_| Refusal::Hotkey("not a valid sr25519 public key".into()))?;
    Ok(Checked {
        signed: Signed {
            hotkey,
            uuid: uuid.to_string(),
            timestamp_ms,
        },
        public,
        signature,
        signed_for: headers.signed_for.clone(),
    })
}

/// Checks a signature (`0x` and hex, or hex alone) by `hotkey` over `message`, as the Bittensor key
/// libraries make it: over the bytes themselves, or wrapped in `<Bytes>…</Bytes>` as browser wallets do.
pub fn verify_text(hotkey: &Hotkey, message: &[u8], signature: &str) -> Result<(), Refusal> {
    let signature = signature.trim();
    let signature = hex::decode(signature.strip_prefix("0x").unwrap_or(signature))
        .ok()
        .and_then(|bytes| Signature::from_bytes(&bytes).ok())
        .ok_or(Refusal::SignatureFormat)?;
    let public = PublicKey::from_bytes(hotkey.public_key())
        .map_err(|_| Refusal::Hotkey("not a valid sr25519 public key".into()))?;
    let wrapped = [b"<Bytes>".as_slice(), message, b"</Bytes>"].concat();
    [message, wrapped.as_slice()]
        .iter()
        .any(|signed| {
            public
                .verify_simple(SIGNING_CONTEXT, signed, &signature)
                .is_ok()
        })
        .then_some(())
        .ok_or_else(|| Refusal::Mismatch(hotkey.to_string()))
}

/// Signs `message` with the key as the Bittensor key libraries do: `0x` and hex.
pub fn sign_text(keypair: &schnorrkel::Keypair, message: &[u8]) -> String {
    format!(
        "0x{}",
        hex::encode(keypair.sign_simple(SIGNING_CONTEXT, message).to_bytes())
    )
}

/// Signs a request as a miner does: the headers to send with `body`.
pub fn sign(
    keypair: &schnorrkel::Keypair,
    body: &[u8],
    now_ms: i64,
    signed_for: Option<&str>,
) -> SignedHeaders {
    let uuid = uuid::Uuid::new_v4().to_string();
    let signed = message(body, &uuid, now_ms, signed_for);
    let signature = keypair.sign_simple(SIGNING_CONTEXT, signed.as_bytes());
    SignedHeaders {
        version: Some("2".into()),
        timestamp: Some(now_ms.to_string()),
        uuid: Some(uuid),
        signed_by: Some(Hotkey::from_public_key(keypair.public.to_bytes()).to_string()),
        signed_for: signed_for.map(str::to_string),
        signature: Some(format!("0x{}", hex::encode(signature.to_bytes()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keypair(seed: u8) -> schnorrkel::Keypair {
        schnorrkel::MiniSecretKey::from_bytes(&[seed; 32])
            .unwrap()
            .expand_to_keypair(schnorrkel::ExpansionMode::Ed25519)
    }

    const NOW: i64 = 1_790_000_000_000;

    /// The deployment's identity in these tests.
    fn ours() -> Hotkey {
        Hotkey::from_public_key(keypair(9).public.to_bytes())
    }

    #[test]
    fn a_signed_request_verifies_and_names_its_hotkey() {
        let keys = keypair(1);
        let headers = sign(&keys, b"{\"a\":1}", NOW, None);
        let signed = verify(&headers, b"{\"a\":1}", NOW + 500, &ours()).unwrap();
        assert_eq!(signed.hotkey.public_key(), &keys.public.to_bytes());
        assert_eq!(Some(signed.uuid), headers.uuid);
    }

    #[test]
    fn every_defect_is_refused_with_its_reason() {
        let keys = keypair(1);
        let body = b"{\"a\":1}";
        let for_us = ours().to_string();
        let good = sign(&keys, body, NOW, Some(&for_us));
        verify(&good, body, NOW, &ours()).expect("signed for this service");
        let refused = |headers: &SignedHeaders, body: &[u8], now| {
            verify(headers, body, now, &ours()).unwrap_err()
        };

        assert!(matches!(
            refused(&good, body, NOW + 8_001),
            Refusal::Stale { age_ms: 8_001 }
        ));
        assert!(matches!(
            refused(&good, body, NOW - 9_000),
            Refusal::Future { .. }
        ));
        assert!(matches!(
            refused(&good, b"{\"a\":2}", NOW),
            Refusal::Mismatch(_)
        ));
        let mut other_key = good.clone();
        other_key.signed_by = sign(&keypair(2), body, NOW, None).signed_by;
        assert!(matches!(
            refused(&other_key, body, NOW),
            Refusal::Mismatch(_)
        ));
        let mut not_for_us = good.clone();
        not_for_us.signed_for = None;
        assert!(matches!(
            refused(&not_for_us, body, NOW),
            Refusal::Mismatch(_)
        ));
        let mut forged = good.clone();
        // A well-formed signature, made by the right key, for another request.
        forged.signature = sign(&keys, b"{}", NOW, Some(&for_us)).signature;
        assert!(matches!(refused(&forged, body, NOW), Refusal::Mismatch(_)));
        let mut garbled = good.clone();
        garbled.signature = Some("abcd".into());
        assert_eq!(refused(&garbled, body, NOW), Refusal::SignatureFormat);
        let mut old_version = good.clone();
        old_version.version = Some("1".into());
        assert_eq!(
            refused(&old_version, body, NOW),
            Refusal::Version("1".into())
        );
        let mut unsigned = good.clone();
        unsigned.signature = None;
        assert_eq!(
            refused(&unsigned, body, NOW),
            Refusal::Missing("Epistula-Request-Signature")
        );
        // Signed, validly, for another service: not taken here.
        let elsewhere = Hotkey::from_public_key(keypair(3).public.to_bytes()).to_string();
        let for_another = sign(&keys, body, NOW, Some(&elsewhere));
        assert!(matches!(
            refused(&for_another, body, NOW),
            Refusal::SignedFor { named, .. } if named == elsewhere
        ));
        let mut bad_hotkey = good;
        bad_hotkey.signed_by = Some("5NotAnAddress".into());
        assert!(matches!(
            refused(&bad_hotkey, body, NOW),
            Refusal::Hotkey(_)
        ));
    }
}
