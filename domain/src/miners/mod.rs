//! Miners: who they are (an sr25519 hotkey) and how their requests are authenticated (Epistula v2).

pub mod epistula;
pub mod hotkey;

pub use hotkey::Hotkey;
