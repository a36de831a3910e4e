//! The hotkey file: JSON with `secretSeed` (`0x` + 32 bytes in hex) and `ss58Address`, the keys a
//! Bittensor wallet's hotkey file carries, so a miner can use the hotkey it already has. The key pair
//! is derived from the seed as substrate derives sr25519 keys (`Keypair.create_from_seed`).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use rand::RngCore;
use serde_json::{Value, json};

use crate::Error;

pub fn read(path: &Path) -> Result<schnorrkel::Keypair, Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| Error::Hotkey(format!("{}: {err}", path.display())))?;
    let file: Value = serde_json::from_str(&text)
        .map_err(|err| Error::Hotkey(format!("{} is not JSON: {err}", path.display())))?;
    let seed = file["secretSeed"]
        .as_str()
        .ok_or_else(|| Error::Hotkey(format!("{} has no secretSeed", path.display())))?;
    let bytes = hex::decode(seed.trim_start_matches("0x"))
        .map_err(|_| Error::Hotkey(format!("{}: secretSeed is not hex", path.display())))?;
    let mini = schnorrkel::MiniSecretKey::from_bytes(&bytes)
        .map_err(|_| Error::Hotkey(format!("{}: secretSeed must be 32 bytes", path.display())))?;
    Ok(mini.expand_to_keypair(schnorrkel::ExpansionMode::Ed25519))
}

/// Writes a new hotkey file at `path` (refusing to overwrite one) and returns its SS58 address.
pub fn create(path: &Path) -> Result<String, Error> {
    let mut seed = [0u8; 32];
    rand::rng().fill_bytes(&mut seed);
    let keys = schnorrkel::MiniSecretKey::from_bytes(&seed)
        .expect("32 bytes")
        .expand_to_keypair(schnorrkel::ExpansionMode::Ed25519);
    let address = address(&keys);
    let file = json!({
        "secretSeed": format!("0x{}", hex::encode(seed)),
        "publicKey": format!("0x{}", hex::encode(keys.public.to_bytes())),
        "ss58Address": address,
    });
    // Created new (never over an existing file, nor through a link planted in its place) and readable by
    // its owner only: the seed is the miner's identity and its earnings.
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|err| match err.kind() {
            std::io::ErrorKind::AlreadyExists => Error::Hotkey(format!(
                "{} exists already; not overwritten",
                path.display()
            )),
            _ => Error::Hotkey(format!("{}: {err}", path.display())),
        })?;
    out.write_all(
        serde_json::to_string_pretty(&file)
            .expect("JSON")
            .as_bytes(),
    )
    .map_err(|err| Error::Hotkey(format!("{}: {err}", path.display())))?;
    Ok(address)
}

pub fn address(keys: &schnorrkel::Keypair) -> String {
    domain::miners::Hotkey::from_public_key(keys.public.to_bytes()).to_string()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_new_hotkey_file_is_readable_by_its_owner_only_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hotkey.json");
        let address = super::create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the seed must not be readable by other users");
        assert_eq!(super::address(&super::read(&path).unwrap()), address);
        let again = super::create(&path).unwrap_err().to_string();
        assert!(again.contains("exists already"), "{again}");
        assert_eq!(
            super::address(&super::read(&path).unwrap()),
            address,
            "the first key stands"
        );
    }
}
