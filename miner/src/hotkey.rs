//! The hotkey file: JSON with `secretSeed` (`0x` + 32 bytes in hex) and `ss58Address`, the keys a
//! Bittensor wallet's hotkey file carries, so a miner can use the hotkey it already has. The key pair
//! is derived from the seed as substrate derives sr25519 keys (`Keypair.create_from_seed`).

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
    if path.exists() {
        return Err(Error::Hotkey(format!(
            "{} exists already; not overwritten",
            path.display()
        )));
    }
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
    std::fs::write(path, serde_json::to_string_pretty(&file).expect("JSON"))
        .map_err(|err| Error::Hotkey(format!("{}: {err}", path.display())))?;
    Ok(address)
}

pub fn address(keys: &schnorrkel::Keypair) -> String {
    domain::miners::Hotkey::from_public_key(keys.public.to_bytes()).to_string()
}
