"""crucible-eval against the field's reference implementation, Hugging Face transformers and peft.

For each decoder family crucible-eval reads (Qwen2, Qwen3, Llama with Llama 3 rope scaling, Mistral
with a sliding window, Gemma 2 with its soft-capping and alternating windows, Phi-3 with and without LongRoPE), this builds a
tiny random model with transformers itself (`AutoModelForCausalLM.from_config`, seeded, saved with
`save_pretrained`), a tokenizer with a chat template (the Qwen2.5 template as published, or a Llama 3
style one), and held-out chat and instruct rows. It computes each row's loss with transformers (eager
attention, f32, one row at a time: no padding) over the assistant tokens, found as crucible-eval finds
them (docs/evaluator.md), runs crucible-eval on the same files, and compares the mean and every row's
loss. For Qwen2 it also makes a PEFT LoRA adapter (random A and B, rsLoRA off and on) and compares
crucible-eval's loss of the adapter with the loss of PEFT's model and of its `merge_and_unload`.

Usage: python agreement.py CRUCIBLE_EVAL TOKENIZER_JSON WORK_DIR
Prints one line per check and exits non-zero when any differs by more than 1e-4.
"""

import json
import math
import os
import subprocess
import sys

import torch
from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast
from transformers import Gemma2Config, LlamaConfig, MistralConfig, Phi3Config, Qwen2Config, Qwen3Config

TOLERANCE = 1e-4
HERE = os.path.dirname(os.path.abspath(__file__))
QWEN_TEMPLATE = open(os.path.join(HERE, "..", "lm", "templates", "qwen2.5.jinja")).read()
LLAMA_TEMPLATE = open(os.path.join(HERE, "..", "lm", "templates", "llama3.jinja")).read()
SPECIAL = ["<|im_start|>", "<|im_end|>", "<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]


def tokenizer(tokenizer_json, template, eos):
    tok = PreTrainedTokenizerFast(tokenizer_file=tokenizer_json, eos_token=eos, bos_token="<|begin_of_text|>")
    tok.add_special_tokens({"additional_special_tokens": SPECIAL})
    tok.chat_template = template
    return tok


def configs(vocab, eos, bos):
    common = dict(vocab_size=vocab, hidden_size=64, intermediate_size=112, num_hidden_layers=3,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                  eos_token_id=eos, bos_token_id=bos, rms_norm_eps=1e-6)
    return {
        "qwen2": (Qwen2Config(**common, tie_word_embeddings=True), QWEN_TEMPLATE, "<|im_end|>"),
        "qwen3": (Qwen3Config(**common, head_dim=24, tie_word_embeddings=False), QWEN_TEMPLATE, "<|im_end|>"),
        "llama": (LlamaConfig(**common, rope_parameters={
            "rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
            "high_freq_factor": 4.0, "original_max_position_embeddings": 64}), LLAMA_TEMPLATE, "<|eot_id|>"),
        "mistral": (MistralConfig(**common, sliding_window=7), QWEN_TEMPLATE, "<|im_end|>"),
        "gemma2": (Gemma2Config(**common, head_dim=32, query_pre_attn_scalar=24, sliding_window=9,
                                attn_logit_softcapping=5.0, final_logit_softcapping=3.0,
                                hidden_activation="gelu_pytorch_tanh"), QWEN_TEMPLATE, "<|im_end|>"),
        "phi3": (Phi3Config(**common, pad_token_id=eos), None, "<|im_end|>"),
        # LongRoPE, as Phi-3.5 has it: short factors within the pre-training context (256 here), long
        # ones beyond it (8 here, so that every row is beyond), cos and sin scaled by √(1 + ln s / ln c).
        "phi3-longrope-short": (Phi3Config(**common, pad_token_id=eos, original_max_position_embeddings=256,
                                           rope_parameters=longrope(256)), None, "<|im_end|>"),
        "phi3-longrope-long": (Phi3Config(**common, pad_token_id=eos, original_max_position_embeddings=8,
                                          rope_parameters=longrope(8)), None, "<|im_end|>"),
    }


def longrope(original):
    return {"rope_type": "longrope", "rope_theta": 10000.0, "original_max_position_embeddings": original,
            "short_factor": [1.0 + 0.1 * i for i in range(8)], "long_factor": [2.0 + 0.5 * i for i in range(8)]}


def rows():
    words = "the river garden bread cold warm light answer question number colour market train sea".split()
    out = []
    for i in range(12):
        pick = lambda n: " ".join(words[(i * 7 + j * 3) % len(words)] for j in range(n))
        if i % 3 == 0:
            out.append({"messages": [{"role": "system", "content": "Be brief."},
                                     {"role": "user", "content": pick(5 + i)},
                                     {"role": "assistant", "content": pick(3 + i)},
                                     {"role": "user", "content": pick(4)},
                                     {"role": "assistant", "content": pick(6 + i)}]})
        else:
            out.append({"messages": [{"role": "user", "content": pick(4 + i)},
                                     {"role": "assistant", "content": pick(8 + 2 * i)}]})
    return out


def instruct_rows():
    return [{"instruction": f"Name fruit number {i}.", "input": "a plum" if i % 2 else None,
             "output": f"Fruit {i} is a plum, dark and sweet.", "system": "Answer." if i % 3 == 0 else None}
            for i in range(8)]


def scored_sequence(tok, messages):
    """The conversation's ids and which are scored: the assistant turns' characters, as crucible-eval."""
    render = lambda m, gen: tok.apply_chat_template(m, tokenize=False, add_generation_prompt=gen)
    text = render(messages, False)
    spans = []
    for i, m in enumerate(messages):
        if m["role"] == "assistant":
            before, through = render(messages[:i], True), render(messages[: i + 1], False)
            assert through.startswith(before) and text.startswith(through)
            spans.append((len(before), len(through)))
    enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
    scored = [any(a <= start < b for a, b in spans) for start, _ in enc["offset_mapping"]]
    return enc["input_ids"], scored


def plain_sequence(tok, row, eos_id):
    """The plain format of a model without a template (crucible-eval's text::instruct)."""
    prompt = ""
    if row.get("system"):
        prompt += f"System: {row['system']}\n"
    prompt += f"Instruction: {row['instruction']}\n"
    if row.get("input"):
        prompt += f"Input: {row['input']}\n"
    prompt += "Response:"
    p = tok(prompt, add_special_tokens=True)["input_ids"]
    c = tok(" " + row["output"], add_special_tokens=False)["input_ids"] + [eos_id]
    return p + c, [False] * len(p) + [True] * len(c)


def instruct_messages(row):
    user = row["instruction"] + (f"\n\n{row['input']}" if row.get("input") else "")
    m = [{"role": "system", "content": row["system"]}] if row.get("system") else []
    return m + [{"role": "user", "content": user}, {"role": "assistant", "content": row["output"]}]


@torch.no_grad()
def row_losses(model, sequences):
    out = []
    for ids, scored in sequences:
        logits = model(torch.tensor([ids])).logits[0].float()
        logp = torch.log_softmax(logits[:-1], dim=-1)
        targets = torch.tensor(ids[1:])
        mask = torch.tensor(scored[1:])
        picked = logp.gather(1, targets[:, None])[:, 0]
        out.append((-(picked[mask]).sum().item(), int(mask.sum().item())))
    return out


def crucible(binary, work, base, submission, rows_, task_type, model_id):
    os.makedirs(work, exist_ok=True)
    with open(os.path.join(work, "test.jsonl"), "w") as f:
        for r in rows_:
            f.write(json.dumps(r) + "\n")
    with open(os.path.join(work, "spec.json"), "w") as f:
        json.dump({"task_type": task_type, "model_id": model_id}, f)
    out = os.path.join(work, "out")
    subprocess.run([binary, "--spec", f"{work}/spec.json", "--base-model", base, "--submission", submission,
                    "--test", f"{work}/test.jsonl", "--output", out], check=True, capture_output=True)
    return json.load(open(os.path.join(out, "metrics.json")))


def compare(name, ours, theirs):
    """theirs: (sum, tokens) per row. Returns whether every row and the mean agree."""
    total = sum(s for s, _ in theirs) / sum(n for _, n in theirs)
    per_row = {e["row"]: e["loss"] for e in ours["examples"]}
    worst = max(abs(per_row[i] - s / n) for i, (s, n) in enumerate(theirs))
    ok = abs(ours["loss"] - total) <= TOLERANCE and worst <= TOLERANCE and ours["tokens"] == sum(n for _, n in theirs)
    print(f"{name:34s} crucible-eval {ours['loss']:.6f}  transformers {total:.6f}  "
          f"|diff| {abs(ours['loss'] - total):.1e}  worst row {worst:.1e}  tokens {ours['tokens']}  "
          f"{'agree' if ok else 'DIFFER'}")
    return ok


def main():
    binary, tokenizer_json, work = sys.argv[1:4]
    import peft
    import transformers
    print(f"transformers {transformers.__version__}, peft {peft.__version__}, torch {torch.__version__}; "
          f"tolerance {TOLERANCE}")
    torch.manual_seed(0)
    ok = True
    for family, (config, template, eos) in configs(0, 0, 0).items():
        tok = tokenizer(tokenizer_json, template, eos)
        config, _, _ = configs(len(tok), tok.convert_tokens_to_ids(eos), tok.convert_tokens_to_ids("<|begin_of_text|>"))[family]
        config._attn_implementation = "eager"
        torch.manual_seed(56)
        model = AutoModelForCausalLM.from_config(config, attn_implementation="eager").float().eval()
        # Larger weights than the initialiser's 0.02, so that every part of the model shows in the loss.
        for p in model.parameters():
            p.data.normal_(0.0, 0.2 if p.dim() > 1 else 0.5).add_(1.0 if p.dim() == 1 else 0.0)
        base = os.path.join(work, family)
        model.save_pretrained(base)
        tok.save_pretrained(base)
        if template is None:
            eos_id = tok.convert_tokens_to_ids(eos)
            seqs = [plain_sequence(tok, r, eos_id) for r in instruct_rows()]
            ok &= compare(f"{family} instruct (no template)",
                          crucible(binary, f"{base}-eval", base, base, instruct_rows(), "instruct", family),
                          row_losses(model, seqs))
            continue
        seqs = [scored_sequence(tok, r["messages"]) for r in rows()]
        ok &= compare(f"{family} chat", crucible(binary, f"{base}-eval", base, base, rows(), "chat", family),
                      row_losses(model, seqs))
        seqs = [scored_sequence(tok, instruct_messages(r)) for r in instruct_rows()]
        ok &= compare(f"{family} instruct",
                      crucible(binary, f"{base}-eval-instruct", base, base, instruct_rows(), "instruct", family),
                      row_losses(model, seqs))
        if family == "qwen2":
            ok &= adapters(binary, work, base, model, tok)
    sys.exit(0 if ok else 1)


def adapters(binary, work, base, model, tok):
    from peft import LoraConfig, get_peft_model

    ok = True
    seqs = [scored_sequence(tok, r["messages"]) for r in rows()]
    for rslora in (False, True):
        torch.manual_seed(7)
        fresh = AutoModelForCausalLM.from_pretrained(base, attn_implementation="eager").float().eval()
        config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"],
                            use_rslora=rslora, lora_dropout=0.0)
        peft_model = get_peft_model(fresh, config).eval()
        for name, p in peft_model.named_parameters():
            if "lora_" in name:
                p.data.normal_(0.0, 0.3)
        path = os.path.join(work, f"adapter-rslora-{rslora}")
        peft_model.save_pretrained(path)
        # The adapter names its base by the task's model id, as a miner's would.
        cfg_path = os.path.join(path, "adapter_config.json")
        cfg = json.load(open(cfg_path))
        cfg["base_model_name_or_path"] = "qwen2"
        json.dump(cfg, open(cfg_path, "w"))
        ours = crucible(binary, path + "-eval", base, path, rows(), "chat", "qwen2")
        ok &= compare(f"qwen2 LoRA adapter (rslora={rslora}) vs PEFT", ours, row_losses(peft_model, seqs))
        merged = peft_model.merge_and_unload()
        ok &= compare(f"qwen2 LoRA adapter (rslora={rslora}) vs merged", ours, row_losses(merged, seqs))
    return ok


if __name__ == "__main__":
    main()
