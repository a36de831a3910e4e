//! The decoder families on a CPU, with the tiny Qwen2- and Llama-layout reference models: a LoRA
//! fine-tune is submitted as a PEFT adapter and scores exactly as its merged weights, below its base;
//! an adapter or checkpoint that would change the ruler or does not fit the base is refused with the
//! reason; the Qwen2.5 chat template renders as `transformers` renders it and only assistant turns are
//! scored; sharded bf16 checkpoints read as their single-file f32 equal. The agreement of each family's
//! numbers with `transformers` itself is `bench/agreement.py`'s.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use candle_core::{DType, Device, Tensor};
use lm::base::{self, BaseSpec};
use lm::config::Size;
use lm::eval::{self, Spec};
use lm::recipe::{self, Method};
use lm::train::Recipe;
use serde_json::{Value, json};

/// The fruit task as chat rows: a colour for each fruit, always in one sentence shape.
fn rows(range: std::ops::Range<usize>) -> Vec<Value> {
    let fruits = [
        "apple", "banana", "cherry", "grape", "lemon", "lime", "plum", "pear",
    ];
    let colours = [
        "red", "yellow", "dark red", "purple", "yellow", "green", "purple", "green",
    ];
    range
        .map(|i| {
            let f = i % fruits.len();
            json!({"messages": [
                {"role": "user", "content": format!("Say the colour of fruit number {i}, a {}.", fruits[f])},
                {"role": "assistant", "content": format!("The {} is {}.", fruits[f], colours[f])},
            ]})
        })
        .collect()
}

/// The tiny reference models, made once for every test of this file.
fn models() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("crucible-families-{}", std::process::id()));
        for (id, family) in base::FAMILY_MODELS {
            let mut spec = BaseSpec::new(Size::Tiny);
            spec.steps = 30;
            base::create_decoder(family, &spec, base::CORPUS, &dir.join(id), |_| {}).unwrap();
        }
        dir
    })
}

fn spec(task_type: &str, model_id: &str) -> Spec {
    serde_json::from_value(json!({"task_type": task_type, "model_id": model_id})).unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

fn lora_fine_tune(base: &Path, out: &Path) {
    let recipe = Recipe {
        learning_rate: 1e-2,
        epochs: 2,
        batch_size: 8,
        seed: 3,
        deadline: None,
    };
    let method = Method::Lora {
        rank: 4,
        alpha: 8.0,
    };
    recipe::fine_tune(base, out, &rows(0..120), "chat", (&recipe, method), "test").unwrap();
}

#[test]
fn a_lora_fine_tune_is_a_peft_adapter_that_scores_as_its_merged_weights_and_beats_its_base() {
    let work = tempfile::tempdir().unwrap();
    for (id, _) in base::FAMILY_MODELS {
        let base = models().join(id);
        let adapter = work.path().join(id).join("adapter");
        lora_fine_tune(&base, &adapter);
        assert!(
            adapter.join("adapter_config.json").is_file()
                && adapter.join("adapter_model.safetensors").is_file()
        );
        assert!(
            !adapter.join("model.safetensors").exists(),
            "an adapter, not a checkpoint"
        );

        let held_out = rows(1000..1024);
        let before = eval::evaluate(&spec("chat", id), &base, &base, &held_out).unwrap();
        let after = eval::evaluate(&spec("chat", id), &base, &adapter, &held_out).unwrap();
        assert!(
            after.loss < before.loss * 0.8,
            "{id}: {} → {}",
            before.loss,
            after.loss
        );

        // The same adapter folded into the base's weights by hand: a full checkpoint.
        let merged = work.path().join(id).join("merged");
        copy_dir(&base, &merged);
        let mut weights =
            candle_core::safetensors::load(base.join("model.safetensors"), &Device::Cpu).unwrap();
        let config: Value =
            serde_json::from_slice(&std::fs::read(adapter.join("adapter_config.json")).unwrap())
                .unwrap();
        let scale = config["lora_alpha"].as_f64().unwrap() / config["r"].as_f64().unwrap();
        let lora =
            candle_core::safetensors::load(adapter.join("adapter_model.safetensors"), &Device::Cpu)
                .unwrap();
        for (name, a) in &lora {
            let Some(module) = name.strip_suffix(".lora_A.weight") else {
                continue;
            };
            let b = &lora[&format!("{module}.lora_B.weight")];
            let key = format!(
                "{}.weight",
                module.strip_prefix("base_model.model.").unwrap()
            );
            let merged = (&weights[&key] + (b.matmul(a).unwrap() * scale).unwrap()).unwrap();
            weights.insert(key, merged);
        }
        candle_core::safetensors::save(&weights, merged.join("model.safetensors")).unwrap();
        let full = eval::evaluate(&spec("chat", id), &base, &merged, &held_out).unwrap();
        assert!(
            (full.loss - after.loss).abs() < 1e-5,
            "{id}: adapter {} merged {}",
            after.loss,
            full.loss
        );

        // Each row's own loss, weighted by its tokens, is the mean.
        assert_eq!(after.examples.len(), held_out.len());
        let weighted: f64 = after
            .examples
            .iter()
            .map(|e| e.loss * e.tokens as f64)
            .sum();
        assert!((weighted / after.tokens as f64 - after.loss).abs() < 1e-6);
        assert!(after.examples.windows(2).all(|w| w[0].row < w[1].row));
    }
}

/// Writes `adapter` with its config changed by `edit`, or its tensors by `tensors`.
fn altered(
    adapter: &Path,
    to: &Path,
    edit: impl FnOnce(&mut Value),
    tensors: impl FnOnce(&mut HashMap<String, Tensor>),
) -> PathBuf {
    copy_dir(adapter, to);
    let path = to.join("adapter_config.json");
    let mut config: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    edit(&mut config);
    std::fs::write(&path, config.to_string()).unwrap();
    let path = to.join("adapter_model.safetensors");
    let mut weights = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
    tensors(&mut weights);
    candle_core::safetensors::save(&weights, &path).unwrap();
    to.to_path_buf()
}

#[test]
fn an_adapter_that_does_not_fit_the_task_s_base_is_refused_with_the_reason() {
    let work = tempfile::tempdir().unwrap();
    let (id, base) = ("crucible/qwen2-tiny", models().join("crucible/qwen2-tiny"));
    let adapter = work.path().join("adapter");
    lora_fine_tune(&base, &adapter);
    let held_out = rows(1000..1004);
    let refused = |dir: &Path| match eval::evaluate(&spec("chat", id), &base, dir, &held_out) {
        Err(lm::Error::Refused(why)) => why,
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert!(eval::evaluate(&spec("chat", id), &base, &adapter, &held_out).is_ok());

    // Trained on another base: the Llama-layout model's adapter named as such.
    let other = altered(
        &adapter,
        &work.path().join("other"),
        |c| c["base_model_name_or_path"] = json!("meta-llama/Llama-3.2-1B"),
        |_| {},
    );
    assert!(refused(&other).contains("the adapter is for meta-llama/Llama-3.2-1B"));
    // A target module this architecture does not have.
    let gpt2 = altered(
        &adapter,
        &work.path().join("gpt2"),
        |c| {
            c["target_modules"]
                .as_array_mut()
                .unwrap()
                .push(json!("c_attn"))
        },
        |_| {},
    );
    assert!(refused(&gpt2).contains("\"c_attn\""), "{}", refused(&gpt2));
    // Matrices of another shape (an adapter made for a wider model).
    let wide = altered(
        &adapter,
        &work.path().join("wide"),
        |_| {},
        |w| {
            let name = w
                .keys()
                .find(|k| k.ends_with("q_proj.lora_A.weight"))
                .unwrap()
                .clone();
            w.insert(
                name,
                Tensor::zeros((4, 128), DType::F32, &Device::Cpu).unwrap(),
            );
        },
    );
    assert!(
        refused(&wide).contains("lora_A is [4, 128]"),
        "{}",
        refused(&wide)
    );
    // A matrix for a module the base does not have.
    let ghost = altered(
        &adapter,
        &work.path().join("ghost"),
        |_| {},
        |w| {
            let a = Tensor::zeros((4, 64), DType::F32, &Device::Cpu).unwrap();
            let b = Tensor::zeros((64, 4), DType::F32, &Device::Cpu).unwrap();
            w.insert(
                "base_model.model.model.layers.9.self_attn.q_proj.lora_A.weight".into(),
                a,
            );
            w.insert(
                "base_model.model.model.layers.9.self_attn.q_proj.lora_B.weight".into(),
                b,
            );
        },
    );
    assert!(
        refused(&ghost)
            .contains("model.layers.9.self_attn.q_proj, which the base model does not have")
    );
    // Extra weights smuggled in beside the adapter's: the head, changed whole.
    let head = altered(
        &adapter,
        &work.path().join("head"),
        |_| {},
        |w| {
            w.insert(
                "base_model.model.lm_head.weight".into(),
                Tensor::zeros((8, 64), DType::F32, &Device::Cpu).unwrap(),
            );
        },
    );
    assert!(refused(&head).contains("not a LoRA matrix"));
    let saved = altered(
        &adapter,
        &work.path().join("saved"),
        |c| c["modules_to_save"] = json!(["lm_head"]),
        |_| {},
    );
    assert!(refused(&saved).contains("modules_to_save"));
    // A pickle in place of safetensors is never loaded.
    let pickle = work.path().join("pickle");
    copy_dir(&adapter, &pickle);
    std::fs::rename(
        pickle.join("adapter_model.safetensors"),
        pickle.join("adapter_model.bin"),
    )
    .unwrap();
    assert!(refused(&pickle).contains("never loaded"));
    // Its own tokenizer, another one: the ruler is the base's.
    let tokenizer = work.path().join("tokenizer");
    copy_dir(&adapter, &tokenizer);
    let llama_tokenizer = models().join("crucible/llama-tiny/tokenizer.json");
    std::fs::copy(llama_tokenizer, tokenizer.join("tokenizer.json")).unwrap();
    assert!(refused(&tokenizer).contains("tokenizer.json differs"));
}

#[test]
fn a_checkpoint_of_another_architecture_or_rotary_base_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let (id, base) = ("crucible/qwen2-tiny", models().join("crucible/qwen2-tiny"));
    let changed = work.path().join("changed");
    copy_dir(&base, &changed);
    let path = changed.join("config.json");
    let mut config: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    config["rope_theta"] = json!(10_000.0);
    std::fs::write(&path, config.to_string()).unwrap();
    match eval::evaluate(&spec("chat", id), &base, &changed, &rows(0..2)) {
        Err(lm::Error::Refused(why)) => assert!(why.contains("rope_theta"), "{why}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    // A Llama-layout checkpoint submitted to a Qwen2 task.
    match eval::evaluate(
        &spec("chat", id),
        &base,
        &models().join("crucible/llama-tiny"),
        &rows(0..2),
    ) {
        Err(lm::Error::Refused(why)) => assert!(why.contains("config.json differs"), "{why}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn the_qwen_template_renders_as_transformers_does_and_only_assistant_turns_are_scored() {
    let base = models().join("crucible/qwen2-tiny");
    let template = lm::template::ChatTemplate::load(&base).unwrap().unwrap();
    let messages = vec![
        json!({"role": "user", "content": "Hi"}),
        json!({"role": "assistant", "content": "Hello"}),
    ];
    // As `transformers` 5.25 renders Qwen2.5's published template (bench/agreement.py compares every
    // family's rendering and tokens with it).
    assert_eq!(
        template.render(&messages, false).unwrap(),
        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n\
         <|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n"
    );
    let (text, spans) = template.assistant_spans(&messages).unwrap();
    assert_eq!(spans.len(), 1);
    assert_eq!(&text[spans[0].clone()], "Hello<|im_end|>\n");

    let layout = lm::decoder::config::DecoderConfig::read(&base)
        .unwrap()
        .layout()
        .unwrap();
    let conversations = lm::conversation::Conversations::load(&base, &layout).unwrap();
    let row = json!({"messages": messages});
    let sequence = conversations
        .completion(&row, "chat", 256)
        .unwrap()
        .unwrap();
    let scored: Vec<u32> = sequence
        .ids
        .iter()
        .zip(&sequence.scored)
        .filter(|(_, s)| **s)
        .map(|(i, _)| *i)
        .collect();
    assert_eq!(
        conversations.decode(&scored).unwrap(),
        "Hello\n",
        "special tokens are not decoded"
    );
    let tokenizer = tokenizers::Tokenizer::from_file(base.join("tokenizer.json")).unwrap();
    assert_eq!(
        scored[scored.len() - 2],
        tokenizer.token_to_id("<|im_end|>").unwrap()
    );
}

#[test]
fn a_sharded_bf16_checkpoint_reads_as_its_single_file_f32_equal() {
    let work = tempfile::tempdir().unwrap();
    let (id, base) = ("crucible/llama-tiny", models().join("crucible/llama-tiny"));
    let weights =
        candle_core::safetensors::load(base.join("model.safetensors"), &Device::Cpu).unwrap();
    let (rounded, sharded) = (work.path().join("rounded"), work.path().join("sharded"));
    copy_dir(&base, &rounded);
    copy_dir(&base, &sharded);
    std::fs::remove_file(sharded.join("model.safetensors")).unwrap();
    let mut names: Vec<&String> = weights.keys().collect();
    names.sort();
    let (mut first, mut second, mut exact) = (HashMap::new(), HashMap::new(), HashMap::new());
    let mut map = serde_json::Map::new();
    for (i, name) in names.into_iter().enumerate() {
        let bf16 = weights[name].to_dtype(DType::BF16).unwrap();
        exact.insert(name.clone(), bf16.to_dtype(DType::F32).unwrap());
        let file = if i % 2 == 0 {
            "model-00001-of-00002.safetensors"
        } else {
            "model-00002-of-00002.safetensors"
        };
        map.insert(name.clone(), json!(file));
        if i % 2 == 0 {
            first.insert(name.clone(), bf16)
        } else {
            second.insert(name.clone(), bf16)
        };
    }
    candle_core::safetensors::save(&first, sharded.join("model-00001-of-00002.safetensors"))
        .unwrap();
    candle_core::safetensors::save(&second, sharded.join("model-00002-of-00002.safetensors"))
        .unwrap();
    std::fs::write(
        sharded.join("model.safetensors.index.json"),
        json!({"metadata": {}, "weight_map": map}).to_string(),
    )
    .unwrap();
    candle_core::safetensors::save(&exact, rounded.join("model.safetensors")).unwrap();

    let held_out = rows(0..8);
    let a = eval::evaluate(&spec("chat", id), &base, &sharded, &held_out).unwrap();
    let b = eval::evaluate(&spec("chat", id), &base, &rounded, &held_out).unwrap();
    assert_eq!(a.loss, b.loss);
    assert_eq!(a.examples, b.examples);
}

#[test]
fn preference_and_reward_tasks_are_scored_on_a_real_family_through_its_template() {
    let (id, base) = ("crucible/llama-tiny", models().join("crucible/llama-tiny"));
    let pairs: Vec<Value> = (0..6)
        .map(|i| json!({"prompt": format!("Say the colour of fruit number {i}."), "chosen": "It is red.", "rejected": "No.", "system": "Answer briefly."}))
        .collect();
    let dpo = eval::evaluate(&spec("dpo", id), &base, &base, &pairs).unwrap();
    // The policy is its own reference: every margin is 0 and each pair's loss is ln 2.
    assert_eq!(dpo.rows, 6);
    assert!(
        dpo.examples
            .iter()
            .all(|e| (e.loss - std::f64::consts::LN_2).abs() < 1e-6),
        "{dpo:?}"
    );

    let prompts: Vec<Value> = (0..3)
        .map(|i| json!({"prompt": format!("Describe fruit number {i}.")}))
        .collect();
    let grpo = eval::evaluate(&spec("grpo", id), &base, &base, &prompts).unwrap();
    assert_eq!(grpo.rows, 3);
    assert_eq!(grpo.examples.len(), 3);
    assert!(
        grpo.loss <= 0.0 && grpo.loss >= -1.0,
        "minus a reward in [0, 1]: {}",
        grpo.loss
    );
}

#[test]
fn a_submission_cannot_bring_a_chat_template_of_its_own() {
    // The attacker's template renders every turn as the assistant's and drops the special tokens, so
    // that, were it used, the loss would be taken over other (easier, more) tokens. The template is the
    // base model's whatever the submission carries: the same weights score the same.
    let work = tempfile::tempdir().unwrap();
    let (id, base) = ("crucible/qwen2-tiny", models().join("crucible/qwen2-tiny"));
    let attack = work.path().join("attack");
    copy_dir(&base, &attack);
    let path = attack.join("tokenizer_config.json");
    let mut config: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    config["chat_template"] = json!("{% for m in messages %}{{ m['content'] }} {% endfor %}");
    std::fs::write(&path, config.to_string()).unwrap();
    std::fs::write(
        attack.join("chat_template.jinja"),
        "{% for m in messages %}{{ m['content'] }}{% endfor %}",
    )
    .unwrap();
    let held_out = rows(0..8);
    let honest = eval::evaluate(&spec("chat", id), &base, &base, &held_out).unwrap();
    let attacked = eval::evaluate(&spec("chat", id), &base, &attack, &held_out).unwrap();
    assert_eq!(attacked.loss, honest.loss);
    assert_eq!(attacked.tokens, honest.tokens);
}
