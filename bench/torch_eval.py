"""The reference evaluator's measurement in PyTorch, for the benchmark (scripts/bench-eval.sh).

Reads the same model directory (config.json, tokenizer.json, model.safetensors: GPT-2's architecture
and tensor names) and the same held-out rows, formats and tokenises them as crucible-eval does, and
computes the mean cross-entropy of the completion tokens in batches of 16 rows sorted by length. Prints
one JSON line: loss, tokens, seconds (the scoring only, after loading), tokens per second.

Usage: python torch_eval.py MODEL_DIR TEST_JSONL THREADS
"""

import json
import math
import sys
import time

import torch
from safetensors.torch import load_file
from tokenizers import Tokenizer

BATCH = 16


def instruct(row):
    prompt = ""
    if row.get("system"):
        prompt += f"System: {row['system']}\n"
    prompt += f"Instruction: {row['instruction']}\n"
    if row.get("input"):
        prompt += f"Input: {row['input']}\n"
    prompt += "Response:"
    return prompt, " " + row["output"]


def sequence(tokenizer, eos, prompt, completion, limit):
    p = tokenizer.encode(prompt, add_special_tokens=False).ids or [eos]
    c = tokenizer.encode(completion, add_special_tokens=False).ids + [eos]
    c = c[: max(limit - 1, 1)]
    room = max(limit - len(c), 1)
    p = p[-room:]
    return p + c, [False] * len(p) + [True] * len(c)


class Gpt(torch.nn.Module):
    def __init__(self, config, weights):
        super().__init__()
        self.c = config
        self.w = weights

    def layer_norm(self, x, name):
        return torch.nn.functional.layer_norm(
            x, (self.c["n_embd"],), self.w[f"{name}.weight"], self.w[f"{name}.bias"],
            self.c.get("layer_norm_epsilon", 1e-5))

    def linear(self, x, name):
        return x @ self.w[f"{name}.weight"] + self.w[f"{name}.bias"]

    def forward(self, ids):
        b, t = ids.shape
        n, h = self.c["n_embd"], self.c["n_head"]
        wte = self.w["transformer.wte.weight"]
        x = wte[ids] + self.w["transformer.wpe.weight"][:t]
        mask = torch.full((t, t), float("-inf")).triu(1)
        for i in range(self.c["n_layer"]):
            p = f"transformer.h.{i}"
            qkv = self.linear(self.layer_norm(x, f"{p}.ln_1"), f"{p}.attn.c_attn")
            q, k, v = (qkv[..., j * n:(j + 1) * n].reshape(b, t, h, n // h).transpose(1, 2) for j in range(3))
            att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(n // h) + mask, dim=-1)
            y = (att @ v).transpose(1, 2).reshape(b, t, n)
            x = x + self.linear(y, f"{p}.attn.c_proj")
            hidden = torch.nn.functional.gelu(
                self.linear(self.layer_norm(x, f"{p}.ln_2"), f"{p}.mlp.c_fc"), approximate="tanh")
            x = x + self.linear(hidden, f"{p}.mlp.c_proj")
        return self.layer_norm(x, "transformer.ln_f") @ wte.T


def main():
    model_dir, test_path, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    torch.set_num_threads(threads)
    config = json.load(open(f"{model_dir}/config.json"))
    model = Gpt(config, load_file(f"{model_dir}/model.safetensors"))
    tokenizer = Tokenizer.from_file(f"{model_dir}/tokenizer.json")
    eos = tokenizer.token_to_id("<|endoftext|>")
    rows = [json.loads(line) for line in open(test_path) if line.strip()]
    seqs = sorted((sequence(tokenizer, eos, *instruct(r), config["n_positions"]) for r in rows),
                  key=lambda s: len(s[0]))
    started = time.perf_counter()
    total, tokens = 0.0, 0
    with torch.inference_mode():
        for i in range(0, len(seqs), BATCH):
            chunk = seqs[i:i + BATCH]
            t = max(len(ids) for ids, _ in chunk)
            ids = torch.tensor([s + [eos] * (t - len(s)) for s, _ in chunk])
            scored = torch.tensor([m + [False] * (t - len(m)) for _, m in chunk], dtype=torch.float32)
            logp = torch.log_softmax(model(ids)[:, :-1], dim=-1)
            picked = logp.gather(2, ids[:, 1:].unsqueeze(2)).squeeze(2)
            mask = scored[:, 1:]
            total += float(-(picked * mask).sum())
            tokens += int(mask.sum())
    seconds = time.perf_counter() - started
    print(json.dumps({"loss": total / tokens, "tokens": tokens, "seconds": seconds,
                      "tokens_per_second": tokens / seconds}))


if __name__ == "__main__":
    main()
