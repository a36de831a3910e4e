//! The reference parts of the whole loop, as tests start them: the base models made by
//! `crucible-base-models` and miners run by `crucible-miner`, built beside `crucible`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A program built beside `crucible` (the workspace's binaries share one target directory).
pub fn sibling(name: &str) -> PathBuf {
    Path::new(&super::bin()).with_file_name(name)
}

/// Makes `crucible/reference-tiny`, briefly pre-trained, under `dir` (one directory per model id).
pub fn make_base_models(dir: &Path) {
    base_models(dir, &["--size", "tiny", "--family", "reference"]);
}

/// Makes the reference model of `family` (`qwen2` or `llama`: `crucible/qwen2-tiny`,
/// `crucible/llama-tiny`), briefly pre-trained, under `dir`.
pub fn make_family_models(dir: &Path, family: &str) {
    base_models(dir, &["--family", family]);
}

fn base_models(dir: &Path, args: &[&str]) {
    let made = Command::new(sibling("crucible-base-models"))
        .arg("--dir")
        .arg(dir)
        .args(args)
        .args(["--steps", "60"])
        .output()
        .expect("run crucible-base-models (cargo build -p lm)");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
}

/// How a reference miner trains.
#[derive(Clone, Copy, Debug)]
pub struct Recipe {
    pub learning_rate: &'static str,
    pub epochs: &'static str,
    /// `full` or `lora`.
    pub method: &'static str,
}

/// Three recipes that train differently enough to rank apart on a small task: full fine-tuning
/// at a good learning rate, LoRA, and full fine-tuning barely moving.
pub const THREE_RECIPES: [Recipe; 3] = [
    Recipe {
        learning_rate: "3e-3",
        epochs: "3",
        method: "full",
    },
    Recipe {
        learning_rate: "1e-2",
        epochs: "2",
        method: "lora",
    },
    Recipe {
        learning_rate: "1e-4",
        epochs: "1",
        method: "full",
    },
];

/// Running miners, killed when dropped (however the test ends).
#[derive(Default)]
pub struct Miners(Vec<Child>);

impl Miners {
    /// Starts miner number `index` on `server` with `recipe`: its hotkey is made at
    /// `work/hotkey-{index}.json`, it trains under `work/miner-{index}` and stops after `tasks`
    /// submissions.
    pub fn start(
        &mut self,
        server: &str,
        base_models: &Path,
        work: &Path,
        index: usize,
        recipe: Recipe,
        tasks: usize,
    ) {
        let child = Command::new(sibling("crucible-miner"))
            .args(["--server", server, "--new-hotkey"])
            .args(["--tasks", &tasks.to_string()])
            .arg("--hotkey-file")
            .arg(hotkey_file(work, index))
            .arg("--base-models")
            .arg(base_models)
            .arg("--work-dir")
            .arg(work.join(format!("miner-{index}")))
            .args(["--learning-rate", recipe.learning_rate])
            .args(["--epochs", recipe.epochs, "--method", recipe.method])
            .args(["--batch-size", "16", "--seed", &index.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start crucible-miner (cargo build -p miner)");
        self.0.push(child);
    }
}

impl Drop for Miners {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Where `Miners::start` keeps miner `index`'s hotkey.
pub fn hotkey_file(work: &Path, index: usize) -> PathBuf {
    work.join(format!("hotkey-{index}.json"))
}

/// The SS58 address of the hotkey in `file`.
pub fn hotkey_address(file: &Path) -> String {
    let text = std::fs::read_to_string(file).expect("read the hotkey file");
    let json: serde_json::Value = serde_json::from_str(&text).expect("a JSON hotkey file");
    json["ss58Address"]
        .as_str()
        .expect("ss58Address")
        .to_string()
}

/// `text` signed with the hotkey in `file`, by `crucible-miner --sign`.
pub fn sign_with(file: &Path, text: &str) -> String {
    let signed = Command::new(sibling("crucible-miner"))
        .arg("--hotkey-file")
        .arg(file)
        .args(["--sign", text])
        .output()
        .expect("run crucible-miner --sign");
    assert!(
        signed.status.success(),
        "{}",
        String::from_utf8_lossy(&signed.stderr)
    );
    String::from_utf8(signed.stdout).unwrap().trim().to_string()
}

/// Two reference recipes for tournaments, built with `crucible-train` under `work`: `steady` trains
/// well, `timid` barely moves from the base model.
pub fn tournament_recipes(work: &Path) -> Vec<(&'static str, Vec<u8>)> {
    let train = sibling("crucible-train");
    vec![
        (
            "steady",
            testkit::recipes::reference(
                work,
                "steady",
                &train,
                &["--learning-rate", "0.003", "--epochs", "2"],
            ),
        ),
        (
            "timid",
            testkit::recipes::reference(
                work,
                "timid",
                &train,
                &["--learning-rate", "0.00001", "--epochs", "1"],
            ),
        ),
    ]
}

/// Registers one miner per recipe (keys from `first_seed` on), each on `servers[i % len]`, uploads its
/// recipe and waits until it is built; the miners' keys and their recipes' ids.
pub async fn built_recipes(
    servers: &[String],
    recipes: &[(&str, Vec<u8>)],
    first_seed: u8,
) -> Vec<(schnorrkel::Keypair, String)> {
    let mut entrants = Vec::new();
    for (index, (name, context)) in recipes.iter().enumerate() {
        let keys = super::miner_keys(first_seed + index as u8);
        let on = &servers[index % servers.len()];
        let declaration =
            serde_json::json!({"task_types": ["instruct"], "max_parameters": 8_000_000_000u64});
        let register = format!("{on}/api/v1/miner/register");
        let body = declaration.to_string();
        let (status, _) = super::signed("POST", &register, &keys, body.as_bytes(), &[])
            .await
            .expect("the server answers");
        assert_eq!(status, 200);
        let upload = format!("{on}/api/v1/miner/recipes?name={name}");
        let (status, recipe) = super::signed("PUT", &upload, &keys, context, &[])
            .await
            .expect("the server answers");
        assert_eq!(status, 202, "{recipe}");
        entrants.push((keys, recipe["id"].as_str().unwrap().to_string()));
    }
    for (keys, recipe) in &entrants {
        let listing = format!("{}/api/v1/miner/recipes", servers[0]);
        super::wait_until("the recipe is built", 120, async || {
            let listed = super::signed("GET", &listing, keys, b"", &[]).await;
            listed.is_some_and(|(_, list)| {
                list["recipes"][0]["id"] == recipe.as_str()
                    && list["recipes"][0]["state"] == "built"
            })
        })
        .await;
    }
    entrants
}
