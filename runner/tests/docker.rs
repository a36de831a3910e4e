//! The Docker runner against this machine's engine, with images built here `FROM scratch` around a
//! static probe (`tests/fixtures/probe.c`, compiled with `gcc -static`): nothing is pulled. The probe
//! finds no network, a read-only root, an unprivileged user, no new privileges and the default seccomp
//! profile; an overrun, a memory hog, an output filler and a fork bomb are each held to their limit.

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
    let context = context(&[
        (
            "Dockerfile",
            b"FROM scratch\nCOPY probe /probe\nENTRYPOINT [\"/probe\"]\n".to_vec(),
        ),
        ("probe", probe_binary()),
    ]);
    let docker = DockerRunner::connect(None).expect("the Docker engine on this machine");
    let image = DockerRunner::build(
        &docker,
        "crucible-test-probe:latest",
        context,
        &build_limits(Duration::from_secs(120)),
    )
    .await
    .expect("the probe image builds");
    IMAGE.get_or_init(|| image).clone()
}

/// The probe, compiled static.
fn probe_binary() -> Vec<u8> {
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
    std::fs::read(&binary).unwrap()
}

/// What a test build may take.
fn build_limits(time: Duration) -> Limits {
    Limits {
        time,
        memory_bytes: 512 << 20,
        ..Limits::default()
    }
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
        work: None,
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
        &build_limits(Duration::from_secs(60)),
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

#[tokio::test]
async fn a_container_that_fills_its_output_is_stopped_at_its_quota() {
    let limits = Limits {
        output_bytes: 8 << 20,
        time: Duration::from_secs(60),
        ..Limits::default()
    };
    let output = tempfile::tempdir().unwrap();
    let outcome = run("fill", output.path(), limits).await;
    assert_eq!(outcome.ending, Ending::OutputTooLarge, "{}", outcome.logs);
    assert!(
        runner::used_bytes(output.path()) <= 8 << 20,
        "one file never grows past the quota"
    );
    let output = tempfile::tempdir().unwrap();
    let outcome = run("files", output.path(), limits).await;
    assert_eq!(outcome.ending, Ending::OutputTooLarge, "{}", outcome.logs);
    assert!(!outcome.logs.contains("wrote 1 GiB"), "{}", outcome.logs);
}

#[tokio::test]
async fn a_fork_bomb_gets_no_more_processes_than_its_limit() {
    let limits = Limits {
        pids: 32,
        time: Duration::from_secs(8),
        ..Limits::default()
    };
    let output = tempfile::tempdir().unwrap();
    let outcome = run("fork", output.path(), limits).await;
    let forked: u32 = outcome
        .logs
        .split("forked ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the probe reports its forks: {}", outcome.logs));
    assert!(forked < 32, "{}", outcome.logs);
    assert_eq!(outcome.ending, Ending::TimedOut);
}

#[tokio::test]
async fn a_container_has_no_new_privileges_the_default_seccomp_profile_and_few_files() {
    let limits = Limits {
        open_files: 128,
        ..Limits::default()
    };
    let output = tempfile::tempdir().unwrap();
    let outcome = run("box", output.path(), limits).await;
    assert!(outcome.succeeded(), "{}", outcome.logs);
    let line = |name: &str| {
        outcome
            .logs
            .lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
            .unwrap_or_else(|| panic!("no {name} in {}", outcome.logs))
    };
    assert_eq!(line("NoNewPrivs:"), "1");
    assert_eq!(
        line("Seccomp:"),
        "2",
        "2 is filter mode: the engine's profile"
    );
    assert_eq!(line("open files:"), "128");
}

#[tokio::test]
async fn a_fork_bomb_in_a_build_step_is_held_to_the_builds_limits() {
    let context = context(&[
        (
            "Dockerfile",
            b"FROM scratch\nCOPY probe /probe\nRUN [\"/probe\", \"fork\"]\n".to_vec(),
        ),
        ("probe", probe_binary()),
    ]);
    let docker = DockerRunner::connect(None).unwrap();
    let limits = Limits {
        time: Duration::from_secs(15),
        memory_bytes: 128 << 20,
        cpus: 0.5,
        ..Limits::default()
    };
    let started = std::time::Instant::now();
    let err = DockerRunner::build(&docker, "crucible-test-fork-bomb:latest", context, &limits)
        .await
        .unwrap_err()
        .to_string();
    // Killed by the build's memory limit (137) as its processes pile up, or stopped at its time.
    assert!(
        err.contains("returned a non-zero code: 137") || err.contains("took longer than"),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[tokio::test]
async fn a_run_dropped_before_it_ends_leaves_no_container_once_settled() {
    // Its own tag, so that other tests' containers of the probe are not counted.
    let image = probe_image().await;
    let docker = DockerRunner::connect(None).unwrap();
    let tag = "crucible-test-probe-abandoned:latest";
    let options = bollard::query_parameters::TagImageOptionsBuilder::new()
        .repo("crucible-test-probe-abandoned")
        .tag("latest")
        .build();
    docker.tag_image(&image.id, Some(options)).await.unwrap();
    let containers_of_tag = || async {
        let all = bollard::query_parameters::ListContainersOptionsBuilder::new()
            .all(true)
            .build();
        docker
            .list_containers(Some(all))
            .await
            .unwrap()
            .into_iter()
            .filter(|c| c.image.as_deref() == Some(tag))
            .count()
    };
    let output = tempfile::tempdir().unwrap();
    let runner = DockerRunner::new(docker.clone(), tag);
    let spec = RunSpec {
        command: vec!["sleep".into()],
        inputs: Vec::new(),
        output_dir: output.path().to_path_buf(),
        env: Vec::new(),
        limits: Limits {
            time: Duration::from_secs(600),
            ..Limits::default()
        },
        work: None,
    };
    // The server stops while the run is under way: its job's future is dropped.
    let stopped = tokio::time::timeout(Duration::from_secs(3), runner.run(&spec)).await;
    assert!(stopped.is_err(), "the probe sleeps past the stop");
    runner::settle().await;
    assert_eq!(
        containers_of_tag().await,
        0,
        "the container is removed, not left running"
    );
}

#[tokio::test]
async fn a_container_an_earlier_attempt_left_running_is_removed_before_the_work_runs_again() {
    let image = probe_image().await;
    let docker = DockerRunner::connect(None).unwrap();
    let work = format!("left-behind-{}", std::process::id());
    let label = format!("crucible.work={work}");
    let labelled = || async {
        let filters = std::collections::HashMap::from([("label", vec![label.clone()])]);
        let options = bollard::query_parameters::ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        docker.list_containers(Some(options)).await.unwrap()
    };
    // What a server killed mid-run leaves: its container, still running, labelled with the work.
    let orphan = bollard::models::ContainerCreateBody {
        image: Some(image.id.clone()),
        cmd: Some(vec!["sleep".into()]),
        labels: Some(std::collections::HashMap::from([(
            "crucible.work".to_string(),
            work.clone(),
        )])),
        network_disabled: Some(true),
        ..Default::default()
    };
    let orphan = docker.create_container(None, orphan).await.unwrap().id;
    docker.start_container(&orphan, None).await.unwrap();
    assert_eq!(labelled().await.len(), 1);

    let output = tempfile::tempdir().unwrap();
    let runner = DockerRunner::new(docker.clone(), &image.id);
    let spec = RunSpec {
        command: vec!["loss".into()],
        inputs: Vec::new(),
        output_dir: output.path().to_path_buf(),
        env: Vec::new(),
        limits: Limits::default(),
        work: Some(work.clone()),
    };
    let outcome = runner.run(&spec).await.unwrap();
    assert!(outcome.succeeded(), "{outcome:?}");
    assert!(
        labelled().await.is_empty(),
        "the orphan is removed (and the new run's container once it ended)"
    );
    assert!(
        docker.inspect_container(&orphan, None).await.is_err(),
        "the orphan no longer exists"
    );
}

/// A run that asks for a GPU (`Limits::gpus`, the evaluator's `--evaluation-gpus`) asks the engine for
/// one; this machine's engine has no GPU driver and refuses to start it, saying so, rather than running
/// it without the GPU it asked for.
#[tokio::test]
async fn a_run_that_asks_for_a_gpu_the_engine_does_not_have_is_refused_by_the_engine() {
    let image = probe_image().await;
    let runner = DockerRunner::new(DockerRunner::connect(None).unwrap(), &image.tag);
    let output = tempfile::tempdir().unwrap();
    let spec = RunSpec {
        command: vec!["write".into()],
        inputs: Vec::new(),
        output_dir: output.path().to_path_buf(),
        env: Vec::new(),
        limits: Limits {
            gpus: Some(1),
            ..Limits::default()
        },
        work: None,
    };
    let refused = runner.run(&spec).await.expect_err("no GPU on this engine");
    assert!(refused.to_string().contains("gpu"), "{refused}");
    assert_eq!(
        std::fs::read_dir(output.path()).unwrap().count(),
        0,
        "nothing ran"
    );
}
