//! The demo a newcomer runs (`scripts/demo.sh`, which runs `crucible-demo`): with short windows it
//! serves, makes the base model, starts three reference miners and runs its sample task to success,
//! with the default pool settings (8–15 offered, one acceptance enough).

use std::process::Command;

#[test]
fn the_demo_runs_its_competition_to_success() {
    let work = tempfile::tempdir().unwrap();
    let port = end2end::free_port();
    let site_root =
        std::env::var("CRUCIBLE_SITE_ROOT").expect("scripts/test.sh sets CRUCIBLE_SITE_ROOT");
    // A relative --dir, as the script's default is: the evaluator runs in a directory of its own.
    let output = Command::new(env!("CARGO_BIN_EXE_crucible-demo"))
        .args([
            "--port",
            &port.to_string(),
            "--hour-ms",
            "20000",
            "--exit-when-done",
        ])
        .args(["--dir", "demo"])
        .current_dir(work.path())
        .env("LEPTOS_SITE_ROOT", site_root)
        .output()
        .expect("run crucible-demo");
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{said}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for line in [
        "sign in as demo@example.org",
        "watch the competition live: http://127.0.0.1:",
        "the task ended in success",
        "download the winner",
    ] {
        assert!(said.contains(line), "the demo should say {line:?}:\n{said}");
    }
    assert_eq!(
        said.matches(" points ").count(),
        3,
        "three miners' submissions: {said}"
    );
}
