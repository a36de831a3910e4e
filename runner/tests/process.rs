//! The process runner on this machine: output and exit codes, the time limit and the memory limit
//! each killing the program with everything it started.

use std::time::Duration;

use runner::{Ending, Limits, ProcessRunner, RunSpec, Runner, RunnerError};

fn spec(script: &str, output: &std::path::Path, limits: Limits) -> RunSpec {
    RunSpec {
        command: vec!["sh".into(), "-c".into(), script.into()],
        inputs: Vec::new(),
        output_dir: output.to_path_buf(),
        env: vec![("GREETING".into(), "hello".into())],
        limits,
        work: None,
    }
}

fn gone(pid: u32) -> bool {
    // Killed and reaped, or killed and waiting to be reaped by init.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
        stat.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

#[tokio::test]
async fn a_program_runs_in_its_own_directory_with_its_output_captured() {
    let output = tempfile::tempdir().unwrap();
    let runner = ProcessRunner::default();
    let script =
        "echo \"$GREETING from $(pwd)\"; echo oops >&2; echo result > \"$OUTPUT_DIR/out\"; exit 3";
    let outcome = runner
        .run(&spec(script, output.path(), Limits::default()))
        .await
        .unwrap();
    assert_eq!(outcome.ending, Ending::Exited(3));
    assert!(
        outcome.logs.contains("hello from ") && outcome.logs.contains("oops"),
        "{}",
        outcome.logs
    );
    let workdir = outcome
        .logs
        .split("hello from ")
        .nth(1)
        .unwrap()
        .lines()
        .next()
        .unwrap();
    assert!(workdir.contains("crucible-run-"), "{workdir}");
    assert!(
        !std::path::Path::new(workdir).exists(),
        "the working directory is removed"
    );
    assert_eq!(
        std::fs::read_to_string(output.path().join("out")).unwrap(),
        "result\n"
    );
}

#[tokio::test]
async fn an_overrun_is_killed_with_its_children() {
    let output = tempfile::tempdir().unwrap();
    let limits = Limits {
        time: Duration::from_secs(1),
        ..Limits::default()
    };
    let script = "sleep 60 & echo $! > \"$OUTPUT_DIR/child\"; sleep 60";
    let outcome = ProcessRunner::default()
        .run(&spec(script, output.path(), limits))
        .await
        .unwrap();
    assert_eq!(outcome.ending, Ending::TimedOut);
    assert!(
        outcome.duration < Duration::from_secs(10),
        "{:?}",
        outcome.duration
    );
    let child: u32 = std::fs::read_to_string(output.path().join("child"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(gone(child), "the program's child {child} was killed too");
}

#[tokio::test]
async fn a_program_over_its_memory_is_killed() {
    let output = tempfile::tempdir().unwrap();
    let limits = Limits {
        memory_bytes: 100 << 20,
        time: Duration::from_secs(60),
        ..Limits::default()
    };
    // Its child does the eating: the group's memory counts.
    let script = "python3 -c 'import time; x = bytearray(400 * 1024 * 1024); time.sleep(30)'";
    let outcome = ProcessRunner::default()
        .run(&spec(script, output.path(), limits))
        .await
        .unwrap();
    assert_eq!(outcome.ending, Ending::OutOfMemory, "{}", outcome.logs);
    assert!(
        outcome.duration < Duration::from_secs(20),
        "{:?}",
        outcome.duration
    );
}

#[tokio::test]
async fn a_program_that_does_not_exist_is_an_error_not_an_outcome() {
    let output = tempfile::tempdir().unwrap();
    let mut missing = spec("", output.path(), Limits::default());
    missing.command = vec!["/no/such/evaluator".into()];
    let err = ProcessRunner::default().run(&missing).await.unwrap_err();
    assert!(
        matches!(err, RunnerError::Start(ref why) if why.contains("/no/such/evaluator")),
        "{err}"
    );
}

#[tokio::test]
async fn a_program_that_fills_its_output_is_stopped_at_its_quota() {
    let runner = ProcessRunner::default();
    let limits = Limits {
        output_bytes: 4 << 20,
        time: Duration::from_secs(60),
        ..Limits::default()
    };
    // One file: the kernel stops it at the quota (RLIMIT_FSIZE).
    let output = tempfile::tempdir().unwrap();
    let one_file = "head -c 100000000 /dev/zero > \"$OUTPUT_DIR/big\"";
    let outcome = runner
        .run(&spec(one_file, output.path(), limits))
        .await
        .unwrap();
    assert_eq!(outcome.ending, Ending::OutputTooLarge, "{}", outcome.logs);
    assert!(runner::used_bytes(output.path()) <= 4 << 20);
    // Many files, each under the quota: the watch stops the run.
    let output = tempfile::tempdir().unwrap();
    let many = "i=0; while [ $i -lt 400 ]; do head -c 1000000 /dev/zero > \"$OUTPUT_DIR/part-$i\"; \
                i=$((i+1)); sleep 0.01; done";
    let outcome = runner
        .run(&spec(many, output.path(), limits))
        .await
        .unwrap();
    assert_eq!(outcome.ending, Ending::OutputTooLarge, "{}", outcome.logs);
    assert!(
        runner::used_bytes(output.path()) < 200_000_000,
        "stopped long before it wrote all 400 MB"
    );
}

#[tokio::test]
async fn a_program_holds_no_more_open_files_than_its_limit() {
    let output = tempfile::tempdir().unwrap();
    let limits = Limits {
        open_files: 64,
        ..Limits::default()
    };
    let outcome = ProcessRunner::default()
        .run(&spec("ulimit -n", output.path(), limits))
        .await
        .unwrap();
    assert_eq!(outcome.logs.trim(), "64");
}
