//! `crucible-demo`: a whole competition on this machine in minutes. It starts `crucible serve` on the
//! embedded defaults (SQLite and files under `crucible-demo/`, made afresh), makes the reference base
//! model, starts three reference miners with different recipes, and as a demo customer uploads the
//! sample dataset, validates it and runs one task to `success`, printing where to watch it and how to
//! sign in. Then it keeps serving until Ctrl-C, or exits with `--exit-when-done` (as CI runs it).
//!
//! The sample dataset is generated here (temperature conversions, 400 rows), so it carries the
//! project's licence, AGPL-3.0-only; no third-party data is bundled.
//!
//! Usage: `crucible-demo [--port 3000] [--dir crucible-demo] [--hour-ms 30000] [--exit-when-done]`.

use std::path::PathBuf;
use std::time::Instant;

use end2end::reference::{Miners, THREE_RECIPES, make_base_models, sibling};
use end2end::{customer_key, ended_task, get_json, listening, post_json, ready_dataset_of, start};

/// The password `customer_key` gives the demo account.
const PASSWORD: &str = "a long enough password";
const EMAIL: &str = "demo@example.org";

struct Options {
    port: u16,
    dir: PathBuf,
    hour_ms: u64,
    exit_when_done: bool,
}

fn options() -> Options {
    let mut options = Options {
        port: 3000,
        dir: PathBuf::from("crucible-demo"),
        hour_ms: 30_000,
        exit_when_done: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .unwrap_or_else(|| panic!("{name} needs a value (see crucible-demo's header)"))
        };
        match arg.as_str() {
            "--port" => options.port = value("--port").parse().expect("--port is a number"),
            "--dir" => options.dir = PathBuf::from(value("--dir")),
            "--hour-ms" => {
                options.hour_ms = value("--hour-ms").parse().expect("--hour-ms is a number")
            }
            "--exit-when-done" => options.exit_when_done = true,
            other => panic!(
                "unknown argument {other:?}: crucible-demo [--port P] [--dir D] [--hour-ms N] [--exit-when-done]"
            ),
        }
    }
    options
}

/// The sample dataset: 400 instruct rows converting Celsius to Fahrenheit, as JSON lines.
fn sample_rows() -> String {
    (0..400)
        .map(|i| {
            let celsius = i as i64 - 100;
            let fahrenheit = celsius * 9 / 5 + 32;
            let row = serde_json::json!({
                "instruction": format!("Convert {celsius} degrees Celsius to Fahrenheit."),
                "output": format!("{celsius} °C is about {fahrenheit} °F."),
            });
            row.to_string() + "\n"
        })
        .collect()
}

fn main() {
    if std::env::var_os("CRUCIBLE_BIN").is_none() {
        let exe = std::env::current_exe().expect("the demo's own path");
        // SAFETY: the process has one thread yet; the runtime's start after this.
        unsafe { std::env::set_var("CRUCIBLE_BIN", exe.with_file_name("crucible")) };
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(demo(options()));
}

async fn demo(options: Options) {
    let started = Instant::now();
    if options.dir.exists() {
        std::fs::remove_dir_all(&options.dir).expect("remove the last demo's directory");
    }
    std::fs::create_dir_all(&options.dir).unwrap();
    // Absolute, since the evaluator runs in a directory of its own.
    let dir = &std::fs::canonicalize(&options.dir).expect("the demo's directory");
    let data = dir.join("data");
    let base_models = dir.join("base-models");
    std::fs::create_dir_all(&data).unwrap();
    println!("making the reference base model (crucible/reference-tiny)…");
    make_base_models(&base_models);

    let site_root = std::env::var("LEPTOS_SITE_ROOT").unwrap_or_else(|_| "target/site".into());
    let evaluator = sibling("crucible-eval");
    let hour_ms = options.hour_ms.to_string();
    let server = start(
        &data,
        options.port,
        &[
            "--evaluator",
            evaluator.to_str().unwrap(),
            "--base-models",
            base_models.to_str().unwrap(),
            "--site-root",
            &site_root,
            // An hour of a task's window lasts this long; the default pool (8–15 offered, one
            // acceptance enough) starts the window once the three miners have answered.
            "--hour-ms",
            &hour_ms,
            "--min-dataset-rows",
            "100",
            "--evaluation-secs",
            "300",
        ],
        &[],
    );
    listening(options.port).await;
    let base = format!("http://127.0.0.1:{}", options.port);
    let storage = ["--data-dir", data.to_str().unwrap()];
    let key = customer_key(&storage, EMAIL);
    println!("serving {base}; sign in as {EMAIL} with the password \"{PASSWORD}\"");

    let mut miners = Miners::default();
    for (i, recipe) in THREE_RECIPES.into_iter().enumerate() {
        miners.start(&base, &base_models, dir, i, recipe, 1);
        println!(
            "miner {} trains with {} fine-tuning, learning rate {}, {} epochs",
            i + 1,
            recipe.method,
            recipe.learning_rate,
            recipe.epochs
        );
    }

    let dataset = ready_dataset_of(&base, &base, &key, "instruct", &sample_rows()).await;
    println!("the sample dataset is validated: {base}/datasets/{dataset}");
    let request = serde_json::json!({"dataset_id": dataset, "model_id": "crucible/reference-tiny", "hours_to_complete": 1});
    let (status, task) = post_json(&format!("{base}/api/v1/tasks"), &key, &request).await;
    assert_eq!(status, 201, "creating the demo task: {task}");
    let id = task["id"].as_str().unwrap().to_string();
    println!("watch the competition live: {base}/tasks/{id}");

    let task = ended_task(&base, &key, &id, 900).await;
    let submissions = get_json(&format!("{base}/api/v1/tasks/{id}/submissions"), &key)
        .await
        .unwrap();
    println!(
        "the task ended in {} after {:.0} s",
        task["state"].as_str().unwrap_or("?"),
        started.elapsed().as_secs_f64()
    );
    for submission in submissions["submissions"].as_array().into_iter().flatten() {
        println!(
            "  {} loss {} points {}",
            submission["miner"].as_str().unwrap_or("?"),
            submission["loss"],
            submission["points"]
        );
    }
    if task["state"] != "success" {
        eprintln!("the demo task did not succeed; see {base}/tasks/{id}");
        std::process::exit(1);
    }
    println!("download the winner: {base}/api/v1/tasks/{id}/result (or on the task's page)");
    drop(miners);
    if options.exit_when_done {
        return;
    }
    println!("serving until Ctrl-C");
    let mut server = server;
    let _ = server.0.wait();
}
