//! The reference family end to end on a CPU: a base model is created from the shipped corpus, a
//! fine-tune on a task's training rows lowers the held-out loss the evaluator measures, and
//! `crucible-eval` follows the evaluator contract.

use std::path::Path;

use lm::base::{self, BaseSpec};
use lm::config::Size;
use lm::eval::{self, Spec};
use lm::model::Trainable;
use lm::text::{self, Text};
use lm::train::{self, Recipe};
use serde_json::{Value, json};

/// Rows of a small, learnable instruct task: a colour for each fruit, always in one sentence shape.
fn rows(range: std::ops::Range<usize>) -> Vec<Value> {
    let fruits = [
        "apple", "banana", "cherry", "grape", "lemon", "lime", "orange", "plum", "pear", "kiwi",
    ];
    let colours = [
        "red", "yellow", "dark red", "purple", "yellow", "green", "orange", "purple", "green",
        "brown",
    ];
    range
        .map(|i| {
            let f = i % fruits.len();
            json!({
                "instruction": format!("Say the colour of fruit number {i}, a {}.", fruits[f]),
                "input": null,
                "output": format!("The {} is {}.", fruits[f], colours[f]),
                "system": null
            })
        })
        .collect()
}

/// The fruit task's rows in `range` as the tokenizer's training sequences.
fn sequences(text: &Text, range: std::ops::Range<usize>) -> Vec<lm::text::Sequence> {
    rows(range)
        .iter()
        .map(|row| {
            let (prompt, completion) = text::instruct(row).unwrap();
            text.sequence(&prompt, &completion, 256).unwrap()
        })
        .collect()
}

/// The base's and the fine-tune's metrics on 40 held-out rows of the fruit task; the fine-tune gets the
/// base's tokenizer, as a miner's submission does.
fn held_out_losses(base_dir: &Path, tuned_dir: &Path) -> (eval::Metrics, eval::Metrics) {
    std::fs::copy(
        base_dir.join("tokenizer.json"),
        tuned_dir.join("tokenizer.json"),
    )
    .unwrap();
    let held_out = rows(1000..1040);
    let spec: Spec = serde_json::from_value(json!({"task_type": "instruct"})).unwrap();
    let before = eval::evaluate(&spec, base_dir, base_dir, &held_out).unwrap();
    let after = eval::evaluate(&spec, base_dir, tuned_dir, &held_out).unwrap();
    (before, after)
}

fn tiny_base(dir: &Path, steps: usize) {
    let mut spec = BaseSpec::new(Size::Tiny);
    spec.steps = steps;
    base::create(&spec, base::CORPUS, dir, |_| {}).unwrap();
}

#[test]
fn a_fine_tuned_model_has_a_lower_held_out_loss_than_its_base() {
    let work = tempfile::tempdir().unwrap();
    let (base_dir, tuned_dir) = (work.path().join("base"), work.path().join("tuned"));
    tiny_base(&base_dir, 60);
    for file in ["config.json", "tokenizer.json", "model.safetensors"] {
        assert!(base_dir.join(file).is_file(), "the base model has {file}");
    }

    let text = Text::load(&base_dir).unwrap();
    let sequences = sequences(&text, 0..200);
    let trainable = Trainable::load(&base_dir).unwrap();
    let recipe = Recipe {
        learning_rate: 3e-3,
        epochs: 2,
        batch_size: 16,
        ..Recipe::default()
    };
    let mut steps = 0;
    let report = train::fine_tune(
        &trainable.model,
        trainable.vars.all_vars(),
        &sequences,
        text.eos,
        &recipe,
        |_| steps += 1,
    )
    .unwrap();
    assert_eq!(
        (report.steps, steps),
        (26, 26),
        "13 batches an epoch, 2 epochs"
    );
    trainable.save(&tuned_dir).unwrap();
    let (before, after) = held_out_losses(&base_dir, &tuned_dir);
    assert_eq!((before.rows, after.rows), (40, 40));
    assert_eq!(before.tokens, after.tokens, "the same tokens are scored");
    println!(
        "held-out loss: base {:.3}, fine-tuned {:.3}",
        before.loss, after.loss
    );
    assert!(
        after.loss < before.loss * 0.7,
        "fine-tuning lowers the held-out loss: {:.3} -> {:.3}",
        before.loss,
        after.loss
    );
}

#[test]
fn the_same_seed_makes_the_same_base_model() {
    let work = tempfile::tempdir().unwrap();
    let (a, b) = (work.path().join("a"), work.path().join("b"));
    tiny_base(&a, 3);
    tiny_base(&b, 3);
    for file in ["tokenizer.json", "model.safetensors", "config.json"] {
        assert_eq!(
            std::fs::read(a.join(file)).unwrap(),
            std::fs::read(b.join(file)).unwrap(),
            "{file}"
        );
    }
}

#[test]
fn crucible_eval_writes_metrics_and_fails_loudly_on_bad_input() {
    let work = tempfile::tempdir().unwrap();
    let model = work.path().join("model");
    tiny_base(&model, 3);
    let spec = work.path().join("spec.json");
    std::fs::write(&spec, json!({"task_id": "t", "task_type": "instruct", "model_id": "crucible/reference-tiny", "metric": "loss"}).to_string()).unwrap();
    let test = work.path().join("test.jsonl");
    let lines: String = rows(0..5).iter().map(|r| format!("{r}\n")).collect();
    std::fs::write(&test, lines).unwrap();
    let output = work.path().join("out");
    let run = |test: &Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_crucible-eval"))
            .arg("--spec")
            .arg(&spec)
            .arg("--base-model")
            .arg(&model)
            .arg("--submission")
            .arg(&model)
            .arg("--test")
            .arg(test)
            .arg("--output")
            .arg(&output)
            .output()
            .unwrap()
    };
    let ok = run(&test);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let metrics: Value =
        serde_json::from_slice(&std::fs::read(output.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(metrics["rows"], 5);
    assert!(metrics["loss"].as_f64().unwrap() > 0.0);

    let broken = work.path().join("broken.jsonl");
    std::fs::write(&broken, "{\"instruction\": \"x\"\nnot json\n").unwrap();
    let failed = run(&broken);
    assert!(!failed.status.success());
    assert!(
        String::from_utf8_lossy(&failed.stderr).contains("line 1: not JSON"),
        "{}",
        String::from_utf8_lossy(&failed.stderr)
    );
}

#[test]
fn dpo_against_the_base_itself_is_log_two() {
    let work = tempfile::tempdir().unwrap();
    let model = work.path().join("model");
    tiny_base(&model, 3);
    let rows = vec![json!({"prompt": "Pick a colour", "chosen": "Blue.", "rejected": "Seven."})];
    let spec: Spec = serde_json::from_value(json!({"task_type": "dpo", "dpo_beta": 0.1})).unwrap();
    let metrics = eval::evaluate(&spec, &model, &model, &rows).unwrap();
    // With the policy equal to the reference every margin is 0, and −log σ(0) = ln 2.
    assert!(
        (metrics.loss - std::f64::consts::LN_2).abs() < 1e-6,
        "{}",
        metrics.loss
    );
}

#[test]
fn the_catalogue_lists_each_reference_model_with_its_parameter_count() {
    let work = tempfile::tempdir().unwrap();
    let model = work.path().join("model");
    tiny_base(&model, 1);
    let config = lm::config::Config::read(&model).unwrap();
    let stored: usize =
        candle_core::safetensors::load(model.join("model.safetensors"), &candle_core::Device::Cpu)
            .unwrap()
            .values()
            .map(|t| t.elem_count())
            .sum();
    assert_eq!(
        stored,
        config.parameters(),
        "the count is the weights the file holds"
    );
    let migration = include_str!("../../migrations/0014_reference_models.sql");
    for (id, size) in lm::REFERENCE_MODELS {
        let text = Text::load(&model).unwrap();
        let count = lm::config::Config::reference(512, text.eos, size).parameters();
        assert!(
            migration.contains(&format!("('{id}', 'gpt2', {count},")),
            "{id} with {count} parameters"
        );
    }
}

#[test]
fn crucible_base_models_writes_one_directory_per_model_id() {
    let work = tempfile::tempdir().unwrap();
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_crucible-base-models"))
        .arg("--dir")
        .arg(work.path())
        .args(["--size", "tiny", "--steps", "2"])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let model = work.path().join("crucible/reference-tiny");
    assert!(Text::load(&model).is_ok() && model.join("model.safetensors").is_file());
    assert!(
        !work.path().join("crucible/reference-small").exists(),
        "only the size asked for"
    );
    for (id, _) in lm::base::FAMILY_MODELS {
        let model = work.path().join(id);
        for file in [
            "config.json",
            "tokenizer.json",
            "tokenizer_config.json",
            "model.safetensors",
        ] {
            assert!(model.join(file).is_file(), "{id} has {file}");
        }
    }
    let only = tempfile::tempdir().unwrap();
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_crucible-base-models"))
        .arg("--dir")
        .arg(only.path())
        .args(["--family", "qwen2", "--steps", "1"])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let made: Vec<_> = std::fs::read_dir(only.path().join("crucible"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(made, ["qwen2-tiny"], "only the family asked for");
    let wrong = std::process::Command::new(env!("CARGO_BIN_EXE_crucible-base-models"))
        .args(["--size", "huge"])
        .output()
        .unwrap();
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("--size is tiny or small"));
}

#[test]
fn a_lora_fine_tune_lowers_the_held_out_loss_and_changes_only_the_adapted_layers() {
    let work = tempfile::tempdir().unwrap();
    let (base_dir, tuned_dir) = (work.path().join("base"), work.path().join("tuned"));
    tiny_base(&base_dir, 60);
    let text = Text::load(&base_dir).unwrap();
    let sequences = sequences(&text, 0..200);
    let mut model = lm::model::Gpt::load(&base_dir).unwrap();
    let adapters = model.add_lora(8, 16.0, 1).unwrap();
    assert_eq!(
        adapters.len(),
        2 * 4 * 2,
        "A and B for 4 layers in each of 2 blocks"
    );
    let recipe = Recipe {
        learning_rate: 1e-2,
        epochs: 4,
        batch_size: 16,
        ..Recipe::default()
    };
    train::fine_tune(&model, adapters, &sequences, text.eos, &recipe, |_| {}).unwrap();
    model.save(&tuned_dir).unwrap();
    let (before, after) = held_out_losses(&base_dir, &tuned_dir);
    println!(
        "held-out loss with LoRA: base {:.3}, fine-tuned {:.3}",
        before.loss, after.loss
    );
    assert!(
        after.loss < before.loss * 0.9,
        "{:.3} -> {:.3}",
        before.loss,
        after.loss
    );

    // The adapters are folded into the layers they adapt; embeddings and norms are the base's.
    let load = |dir: &Path| {
        candle_core::safetensors::load(dir.join("model.safetensors"), &candle_core::Device::Cpu)
            .unwrap()
    };
    let (base, tuned) = (load(&base_dir), load(&tuned_dir));
    assert_eq!(
        base.len(),
        tuned.len(),
        "the same tensors, by the same names"
    );
    let same = |name: &str| {
        let diff = (&base[name] - &tuned[name])
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        diff == 0.0
    };
    assert!(
        same("transformer.wte.weight")
            && same("transformer.h.0.ln_1.weight")
            && same("transformer.h.1.attn.c_attn.bias")
    );
    assert!(
        !same("transformer.h.0.attn.c_attn.weight") && !same("transformer.h.1.mlp.c_proj.weight")
    );
}

/// A copy of the model directory `from` in `to`, its `name` replaced by `contents` (or left out).
fn copy_with(from: &Path, to: &Path, name: &str, contents: Option<&str>) {
    std::fs::create_dir_all(to).unwrap();
    for file in ["config.json", "tokenizer.json", "model.safetensors"] {
        if file != name {
            std::fs::copy(from.join(file), to.join(file)).unwrap();
        }
    }
    if let Some(contents) = contents {
        std::fs::write(to.join(name), contents).unwrap();
    }
}

#[test]
fn every_submission_is_scored_with_the_base_models_ruler() {
    let work = tempfile::tempdir().unwrap();
    let base = work.path().join("base");
    tiny_base(&base, 3);
    let held_out = rows(1000..1010);
    let spec: Spec = serde_json::from_value(json!({"task_type": "instruct"})).unwrap();
    let own = eval::evaluate(&spec, &base, &base, &held_out).unwrap();

    // No tokenizer of its own: scored with the base's, exactly as the base itself.
    let bare = work.path().join("bare");
    copy_with(&base, &bare, "tokenizer.json", None);
    let scored = eval::evaluate(&spec, &base, &bare, &held_out).unwrap();
    assert_eq!((scored.loss, scored.tokens), (own.loss, own.tokens));

    // The same tokenizer re-serialised (another key order, no whitespace) is the same ruler.
    let reserialised = work.path().join("reserialised");
    let tokenizer: Value =
        serde_json::from_str(&std::fs::read_to_string(base.join("tokenizer.json")).unwrap())
            .unwrap();
    copy_with(
        &base,
        &reserialised,
        "tokenizer.json",
        Some(&tokenizer.to_string()),
    );
    assert!(eval::evaluate(&spec, &base, &reserialised, &held_out).is_ok());

    // A tokenizer that reads every text as one unknown token: refused, whatever the weights.
    let one_token = json!({
        "version": "1.0", "truncation": null, "padding": null,
        "added_tokens": [{"id": 1, "content": "<|endoftext|>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}],
        "normalizer": null, "pre_tokenizer": null, "post_processor": null, "decoder": null,
        "model": {"type": "WordLevel", "vocab": {"<unk>": 0, "<|endoftext|>": 1}, "unk_token": "<unk>"}
    });
    let attack = work.path().join("attack");
    copy_with(
        &base,
        &attack,
        "tokenizer.json",
        Some(&one_token.to_string()),
    );
    match eval::evaluate(&spec, &base, &attack, &held_out) {
        Err(lm::Error::Refused(why)) => assert!(
            why.contains("tokenizer.json differs from the base model's in \"model\""),
            "{why}"
        ),
        other => panic!("the attack was scored: {other:?}"),
    }
    // Nor may the architecture change: a vocabulary of two tokens, or another depth.
    for (field, value) in [
        ("vocab_size", json!(2)),
        ("n_layer", json!(1)),
        ("eos_token_id", json!(7)),
    ] {
        let mut config: Value =
            serde_json::from_str(&std::fs::read_to_string(base.join("config.json")).unwrap())
                .unwrap();
        assert_ne!(config[field], value, "{field} must change");
        config[field] = value;
        let changed = work.path().join(field);
        copy_with(&base, &changed, "config.json", Some(&config.to_string()));
        match eval::evaluate(&spec, &base, &changed, &held_out) {
            Err(lm::Error::Refused(why)) => assert!(why.contains(&format!("in {field}")), "{why}"),
            other => panic!("{field}: {other:?}"),
        }
    }

    // crucible-eval says so by the contract: exit 3 and refusal.json.
    let spec_file = work.path().join("spec.json");
    std::fs::write(&spec_file, json!({"task_type": "instruct"}).to_string()).unwrap();
    let test = work.path().join("test.jsonl");
    std::fs::write(
        &test,
        held_out
            .iter()
            .map(|r| format!("{r}\n"))
            .collect::<String>(),
    )
    .unwrap();
    let output = work.path().join("out");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_crucible-eval"))
        .arg("--spec")
        .arg(&spec_file)
        .arg("--base-model")
        .arg(&base)
        .arg("--submission")
        .arg(&attack)
        .arg("--test")
        .arg(&test)
        .arg("--output")
        .arg(&output)
        .output()
        .unwrap();
    assert_eq!(
        run.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let refusal: Value =
        serde_json::from_slice(&std::fs::read(output.join("refusal.json")).unwrap()).unwrap();
    assert!(
        refusal["reason"]
            .as_str()
            .unwrap()
            .contains("tokenizer.json differs"),
        "{refusal}"
    );
    assert!(!output.join("metrics.json").exists());
}

#[test]
fn grpo_ranks_the_same_models_by_the_rewards_the_task_declares() {
    let work = tempfile::tempdir().unwrap();
    let (early, later) = (work.path().join("early"), work.path().join("later"));
    tiny_base(&early, 3);
    tiny_base(&later, 60);
    let prompt = json!({"prompt": "Say the colour of fruit number 7, a plum."});
    let completion_of = |dir: &Path| {
        let model = lm::model::Gpt::load(dir).unwrap();
        let text = Text::load(dir).unwrap();
        let formatted = text::grpo_prompt(&prompt).unwrap();
        let ids =
            eval::generate(&model, &text.encode(&formatted).unwrap(), &[text.eos], 48).unwrap();
        text.decode(&ids).unwrap().to_lowercase()
    };
    let (a, b) = (completion_of(&early), completion_of(&later));
    // A character one model writes and the other never does.
    let only_in = |x: &str, y: &str| x.chars().find(|c| !c.is_whitespace() && !y.contains(*c));
    let (writer, abstainer, c) = match (only_in(&a, &b), only_in(&b, &a)) {
        (Some(c), _) => (&early, &later, c),
        (None, Some(c)) => (&later, &early, c),
        (None, None) => panic!("the two models write the same characters: {a:?} {b:?}"),
    };
    let score = |rewards: Value, model: &Path| {
        let spec: Spec =
            serde_json::from_value(json!({"task_type": "grpo", "grpo_rewards": rewards})).unwrap();
        // Both share the base's tokenizer and architecture; `early` stands as the base.
        eval::evaluate(&spec, &early, model, std::slice::from_ref(&prompt))
            .unwrap()
            .loss
    };
    let wants_it = json!([{"name": "keywords", "weight": 1.0, "keywords": [c.to_string()]}]);
    let pattern = format!("(?s)^[^{}]*$", regex::escape(&c.to_string()));
    let shuns_it = json!([{"name": "regex", "weight": 1.0, "pattern": pattern}]);
    assert!(
        score(wants_it.clone(), writer) < score(wants_it, abstainer),
        "rewarding {c:?} ranks its writer first"
    );
    assert!(
        score(shuns_it.clone(), abstainer) < score(shuns_it, writer),
        "rewarding its absence ranks the other first"
    );
}
