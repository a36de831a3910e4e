//! `crucible-miner` as a miner runs it: it makes its hotkey file when asked, says clearly what it
//! cannot reach, and refuses a recipe it cannot follow.

use std::process::Command;

fn miner(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_crucible-miner"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn a_new_hotkey_is_written_as_a_bittensor_hotkey_file_and_an_unreachable_server_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hotkey.json");
    let path = file.to_str().unwrap();
    let run = miner(&[
        "--hotkey-file",
        path,
        "--new-hotkey",
        "--server",
        "http://127.0.0.1:9",
    ]);
    assert!(!run.status.success(), "nothing listens on port 9");
    let stderr = String::from_utf8_lossy(&run.stderr);
    // Its first request asks the server for the identity it signs for.
    assert!(stderr.contains("GET /api/v1/miner/identity"), "{stderr}");

    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let address = written["ss58Address"].as_str().unwrap();
    assert!(String::from_utf8_lossy(&run.stdout).contains(&format!("created hotkey {address}")));
    let seed = hex::decode(
        written["secretSeed"]
            .as_str()
            .unwrap()
            .trim_start_matches("0x"),
    )
    .unwrap();
    let keys = schnorrkel::MiniSecretKey::from_bytes(&seed)
        .unwrap()
        .expand_to_keypair(schnorrkel::ExpansionMode::Ed25519);
    assert_eq!(
        domain::miners::Hotkey::from_public_key(keys.public.to_bytes()).to_string(),
        address
    );

    // The file is kept: a second run uses it rather than making another.
    let again = miner(&[
        "--hotkey-file",
        path,
        "--new-hotkey",
        "--server",
        "http://127.0.0.1:9",
    ]);
    assert!(String::from_utf8_lossy(&again.stdout).contains(&format!("miner {address}")));
}

#[test]
fn a_recipe_it_cannot_follow_is_refused_before_anything_else() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hotkey.json");
    let run = miner(&["--hotkey-file", file.to_str().unwrap(), "--method", "qlora"]);
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("--method qlora: use full or lora"));
    let zero = miner(&[
        "--hotkey-file",
        file.to_str().unwrap(),
        "--method",
        "lora",
        "--lora-rank",
        "0",
    ]);
    assert!(String::from_utf8_lossy(&zero.stderr).contains("--lora-rank is at least 1"));
    assert!(
        !file.exists(),
        "no hotkey is made for a run that cannot start"
    );
}
