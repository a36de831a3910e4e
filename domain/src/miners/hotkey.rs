//! A miner's hotkey: an sr25519 public key, written as an SS58 address as on Bittensor.

use std::fmt;

use blake2::{Blake2b512, Digest};

/// The generic Substrate address format, which Bittensor uses.
pub const SS58_PREFIX: u8 = 42;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Hotkey {
    public_key: [u8; 32],
}

fn checksum(prefix_and_key: &[u8]) -> [u8; 2] {
    let mut hasher = Blake2b512::new();
    hasher.update(b"SS58PRE");
    hasher.update(prefix_and_key);
    let hash = hasher.finalize();
    [hash[0], hash[1]]
}

impl Hotkey {
    pub fn from_public_key(public_key: [u8; 32]) -> Self {
        Hotkey { public_key }
    }

    pub fn public_key(&self) -> &[u8; 32] {
        &self.public_key
    }

    /// Reads an SS58 address with a one-byte prefix (formats 0–63) and a 32-byte key, checking its
    /// checksum; the error says what is wrong.
    pub fn parse(address: &str) -> Result<Hotkey, String> {
        let bytes = bs58::decode(address.trim())
            .into_vec()
            .map_err(|_| "not base58".to_string())?;
        if bytes.len() != 35 {
            return Err(format!(
                "{} bytes once decoded; an sr25519 hotkey has 35",
                bytes.len()
            ));
        }
        if bytes[0] >= 64 {
            return Err("the address format is not a one-byte SS58 prefix".into());
        }
        let (body, sum) = bytes.split_at(33);
        if checksum(body) != sum {
            return Err("the checksum does not match; the address is mistyped".into());
        }
        let mut public_key = [0u8; 32];
        public_key.copy_from_slice(&body[1..]);
        Ok(Hotkey { public_key })
    }
}

impl fmt::Display for Hotkey {
    /// The SS58 address (prefix 42).
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let mut bytes = Vec::with_capacity(35);
        bytes.push(SS58_PREFIX);
        bytes.extend_from_slice(&self.public_key);
        let sum = checksum(&bytes);
        bytes.extend_from_slice(&sum);
        f.write_str(&bs58::encode(bytes).into_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_well_known_alice_address_round_trips() {
        // Alice's sr25519 key from Substrate's development accounts.
        let alice = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
        let hotkey = Hotkey::parse(alice).unwrap();
        assert_eq!(
            hex::encode(hotkey.public_key()),
            "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d"
        );
        assert_eq!(hotkey.to_string(), alice);
    }

    #[test]
    fn a_mistyped_address_is_refused() {
        let err = Hotkey::parse("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQZ").unwrap_err();
        assert!(err.contains("checksum"), "{err}");
        assert!(Hotkey::parse("0OIl").is_err());
    }
}
