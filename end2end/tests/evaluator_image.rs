//! The reference evaluator in its container (`scripts/evaluator-image.sh`, `lm/evaluator/Dockerfile`),
//! on the real Docker engine: under the runner's box (no network, read-only inputs, an unprivileged
//! user), it scores a Qwen2-layout model exactly as the same program does as a process: the same
//! loss and the same per-row losses.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use end2end::reference::{make_family_models, sibling};
use runner::{DockerRunner, Ending, Limits, RunSpec, Runner};
use serde_json::{Value, json};

/// Every file and folder under `dir` readable by anyone: the container's user is not this one.
fn open_up(dir: &Path) {
    let status = Command::new("chmod")
        .arg("-R")
        .arg("a+rX")
        .arg(dir)
        .status()
        .unwrap();
    assert!(status.success());
}

fn metrics(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("metrics.json")).unwrap()).unwrap()
}

#[tokio::test]
async fn the_evaluator_image_scores_as_the_evaluator_process_does() {
    let work = tempfile::tempdir().unwrap();
    let models = work.path().join("models");
    make_family_models(&models, "qwen2");
    let base = models.join("crucible/qwen2-tiny");
    let inputs = work.path().join("inputs");
    std::fs::create_dir_all(&inputs).unwrap();
    let rows: String = (0..12)
        .map(|i| json!({"messages": [{"role": "user", "content": format!("Colour {i}?")}, {"role": "assistant", "content": format!("Colour {i} is red.")}]}).to_string() + "\n")
        .collect();
    std::fs::write(inputs.join("test.jsonl"), rows).unwrap();
    std::fs::write(
        inputs.join("spec.json"),
        json!({"task_type": "chat", "model_id": "crucible/qwen2-tiny"}).to_string(),
    )
    .unwrap();
    open_up(work.path());

    let tag = "crucible-eval-test:latest";
    let built = Command::new("bash")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../scripts/evaluator-image.sh"
        ))
        .arg(tag)
        .env("CRUCIBLE_EVAL_BIN", sibling("crucible-eval"))
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );

    let runner = DockerRunner::new(DockerRunner::connect(None).unwrap(), tag);
    let in_box = work.path().join("in-box");
    std::fs::create_dir_all(&in_box).unwrap();
    open_up(&in_box);
    std::fs::set_permissions(&in_box, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let spec = RunSpec {
        command: [
            "--spec",
            "/task/spec.json",
            "--base-model",
            "/base-model",
            "--submission",
            "/submission",
            "--test",
            "/test/test.jsonl",
            "--output",
            runner::OUTPUT_MOUNT,
        ]
        .map(String::from)
        .to_vec(),
        inputs: vec![
            (inputs.join("spec.json"), "/task/spec.json".into()),
            (base.clone(), "/base-model".into()),
            (base.clone(), "/submission".into()),
            (inputs.join("test.jsonl"), "/test/test.jsonl".into()),
        ],
        output_dir: in_box.clone(),
        env: Vec::new(),
        limits: Limits {
            time: Duration::from_secs(120),
            ..Limits::default()
        },
        work: None,
    };
    let outcome = runner
        .run(&spec)
        .await
        .expect("the engine runs the evaluator");
    assert_eq!(outcome.ending, Ending::Exited(0), "{}", outcome.logs);

    let as_process = work.path().join("as-process");
    let ran = Command::new(sibling("crucible-eval"))
        .arg("--spec")
        .arg(inputs.join("spec.json"))
        .arg("--base-model")
        .arg(&base)
        .arg("--submission")
        .arg(&base)
        .arg("--test")
        .arg(inputs.join("test.jsonl"))
        .arg("--output")
        .arg(&as_process)
        .output()
        .unwrap();
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    let (boxed, plain) = (metrics(&in_box), metrics(&as_process));
    assert_eq!(boxed["loss"], plain["loss"]);
    assert_eq!(boxed["examples"], plain["examples"]);
    assert_eq!(boxed["rows"], 12);
}
