//! Tournament recipes for tests: the reference recipe with chosen settings, packed by the script
//! miners use, and recipes FROM scratch around the runner tests' static probe that misbehave on purpose.

use std::path::Path;
use std::process::Command;

fn run_ok(command: &mut Command) {
    let output = command
        .output()
        .unwrap_or_else(|err| panic!("{command:?}: {err}"));
    assert!(
        output.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The reference recipe (`crucible_train`, the binary) with `flags` as its settings, as a tar.
pub fn reference(dir: &Path, name: &str, crucible_train: &Path, flags: &[&str]) -> Vec<u8> {
    let out = dir.join(format!("{name}.tar"));
    run_ok(
        Command::new("bash")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../scripts/reference-recipe.sh"
            ))
            .arg(&out)
            .args(flags)
            .env("CRUCIBLE_TRAIN_BIN", crucible_train),
    );
    std::fs::read(out).unwrap()
}

/// A recipe whose entry point is the probe in `mode` (`crash`, `sleep`, `net`: see probe.c).
pub fn probe(dir: &Path, mode: &str) -> Vec<u8> {
    let probe = dir.join("probe");
    if !probe.exists() {
        let source = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../runner/tests/fixtures/probe.c"
        );
        run_ok(
            Command::new("gcc")
                .args(["-static", "-O1", "-o"])
                .arg(&probe)
                .arg(source),
        );
    }
    let mut tar = tar::Builder::new(Vec::new());
    let dockerfile =
        format!("FROM scratch\nCOPY probe /probe\nENTRYPOINT [\"/probe\", \"{mode}\"]\n");
    let mut header = tar::Header::new_gnu();
    header.set_size(dockerfile.len() as u64);
    header.set_mode(0o644);
    tar.append_data(&mut header, "Dockerfile", dockerfile.as_bytes())
        .unwrap();
    tar.append_path_with_name(&probe, "probe").unwrap();
    tar.into_inner().unwrap()
}

/// A recipe holding nothing but `dockerfile`: for what a Dockerfile may and may not say.
pub fn dockerfile_only(dockerfile: &str) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(dockerfile.len() as u64);
    header.set_mode(0o644);
    tar.append_data(&mut header, "Dockerfile", dockerfile.as_bytes())
        .unwrap();
    tar.into_inner().unwrap()
}
