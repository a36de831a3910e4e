//! The Docker runner against this machine's engine, with images built here `FROM scratch` around a
//! static probe (`tests/fixtures/probe.c`, compiled with `gcc -static`): nothing is pulled. The probe
//! finds no network, a read-only root, an unprivileged user; an overrun and a memory hog are killed.

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use runner::{DockerRunner, Ending, Image, Limits, RunSpec, Runner};

/// The probe's image, built once for all the tests of this file.
async fn probe_image() -> Image {
    static IMAGE: OnceLock<Image> = OnceLock::new();
    if let Some(image) = IMAGE.get() {
        return image.clone();
    }
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("probe");
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/probe.c");
    let built = std::process::Command::new("gcc")
        .args(["-static", "-O1", "-o"])
        .arg(&binary)
        .arg(fixture)
        .status()
        .expect("gcc (the probe is compiled static)");
    assert!(built.success());
    let context = context(&[
        (
            "Dockerfile",
            b"FROM scratch\nCOPY probe /probe\nENTRYPOINT [\"/probe\"]\n".to_vec(),
        ),
        ("probe", std::fs::read(&binary).unwrap()),
    ]);
    let docker = DockerRunner::connect(None).expect("the Docker engine on this machine");
    let image = DockerRunner::build(
        &docker,
        "crucible-test-probe:latest",
        context,
        Duration::from_secs(120),
    )
    .await
    .expect("the probe image builds");
    IMAGE.get_or_init(|| image).clone()
}

/// A tar build context holding `files` (the probe executable).
fn context(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for (name, bytes) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o755);
        header.set_cksum();
        tar.append_data(&mut header, name, bytes.as_slice())
            .unwrap();
    }
    tar.into_inner().unwrap()
}

async fn run(mode: &str, output: &Path, limits: Limits) -> runner::Outcome {
    let image = probe_image().await;
    let runner = DockerRunner::new(DockerRunner::connect(None).unwrap(), &image.tag);
    let spec = RunSpec {
        command: vec![mode.into()],
        inputs: Vec::new(),
        output_dir: output.to_path_buf(),
        env: Vec::new(),
        limits,
    };
    runner
        .run(&spec)
        .await
        .expect("the engine runs the container")
}

#[tokio::test]
async fn an_image_is_built_from_a_tar_context_and_recorded_by_digest() {
    let image = probe_image().await;
    assert!(
        image.id.starts_with("sha256:") && image.id.len() == 71,
        "{}",
        image.id
    );
    let docker = DockerRunner::connect(None).unwrap();
    let broken = context(&[(
        "Dockerfile",
        b"FROM scratch\nCOPY missing-file /x\n".to_vec(),
    )]);
    let err = DockerRunner::build(
        &docker,
        "crucible-test-broken:latest",
        broken,
        Duration::from_secs(60),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("missing-file"), "{err}");
}

#[tokio::test]
async fn a_container_cannot_reach_the_network() {
    let output = tempfile::tempdir().unwrap();
    let outcome = run("net", output.path(), Limits::default()).await;
    assert!(
        outcome.logs.contains("network unreachable"),
        "{}",
        outcome.logs
    );
    assert_eq!(outcome.ending, Ending::Exited(2));
}

#[tokio::test]
async fn a_container_writes_only_its_output_as_an_unprivileged_user() {
    let output = tempfile::tempdir().unwrap();
    let outcome = run("write", output.path(), Limits::default()).await;
    assert!(
        outcome
            .logs
            .contains("root filesystem: Read-only file system"),
        "{}",
        outcome.logs
    );
    assert!(
        outcome.succeeded(),
        "{:?}: {}",
        outcome.ending,
        outcome.logs
    );
    let written = std::fs::read_to_string(output.path().join("result")).unwrap();
    assert_eq!(written, "written by uid 65534\n");
}

#[tokio::test]
async fn an_overrunning_container_is_killed_at_its_time_limit() {
    let output = tempfile::tempdir().unwrap();
    let limits = Limits {
        time: Duration::from_secs(2),
        ..Limits::default()
    };
    let outcome = run("sleep", output.path(), limits).await;
    assert_eq!(outcome.ending, Ending::TimedOut);
    assert!(
        outcome.duration < Duration::from_secs(20),
        "{:?}",
        outcome.duration
    );
}

#[tokio::test]
async fn a_container_over_its_memory_is_killed() {
    let output = tempfile::tempdir().unwrap();
    let limits = Limits {
        memory_bytes: 64 << 20,
        time: Duration::from_secs(60),
        ..Limits::default()
    };
    let outcome = run("eat", output.path(), limits).await;
    assert_eq!(outcome.ending, Ending::OutOfMemory, "{}", outcome.logs);
    assert!(!outcome.logs.contains("ate 1 GiB"));
}
