//! The stock `openai` Python SDK (pinned, in the virtual environment `scripts/test.sh` installs) drives
//! a competition through `/v1` with nothing changed but `base_url`: `openai_sdk.py` says what it checks.

use std::process::Command;

use end2end::competition_server;
use end2end::reference::{Miners, THREE_RECIPES, make_base_models};

#[tokio::test(flavor = "multi_thread")]
async fn the_stock_openai_sdk_uploads_a_file_and_its_fine_tuning_job_is_won_by_a_miner() {
    let python = std::env::var("CRUCIBLE_TEST_OPENAI_PYTHON")
        .expect("CRUCIBLE_TEST_OPENAI_PYTHON names a Python with the openai package (scripts/test.sh installs it)");
    let work = tempfile::tempdir().unwrap();
    let base_models = work.path().join("base-models");
    make_base_models(&base_models);
    // An hour of a task's window lasts 25 s; two miners make the pool.
    let (_server, base, key) = competition_server(work.path(), &base_models, "25000", "2-2").await;
    let mut miners = Miners::default();
    for (i, recipe) in THREE_RECIPES.into_iter().take(2).enumerate() {
        miners.start(&base, &base_models, work.path(), i, recipe, 1);
    }

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/openai_sdk.py");
    let run = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .args([script, &base, &key, "crucible/reference-tiny"])
            .output()
            .expect("run the SDK script")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "the SDK script failed:\n{stdout}\n{stderr}"
    );
    let summary: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    println!("{summary}");
    assert_eq!(
        summary["checkpoints"].as_array().map(Vec::len),
        Some(2),
        "{summary}"
    );
}
