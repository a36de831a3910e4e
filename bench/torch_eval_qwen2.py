"""crucible-eval's measurement on a Qwen2-layout model in PyTorch/transformers, for the benchmark
(scripts/bench-eval.sh).

`make MODEL_DIR TOKENIZER_JSON`: builds a seeded Qwen2-layout model of about 20M parameters with
transformers (hidden 384, 9 layers, 6 query and 2 key-value heads), with the tokenizer and Qwen2.5's
chat template, and saves it.
`score MODEL_DIR TEST_JSONL THREADS`: scores the chat rows as crucible-eval does (the template, the
assistant turns' tokens; batches of 16 rows sorted by length, padded at the end) with eager attention
in f32, and prints one JSON line: loss, tokens, seconds (scoring only, after loading), tokens per
second. `TORCH_DEVICE=cuda` scores on the GPU (the CPU by default).
"""

import json
import os
import sys
import time

import torch

from agreement import scored_sequence

BATCH = 16
HERE = os.path.dirname(os.path.abspath(__file__))


def make(model_dir, tokenizer_json):
    from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast, Qwen2Config

    tok = PreTrainedTokenizerFast(tokenizer_file=tokenizer_json, eos_token="<|im_end|>")
    tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    tok.chat_template = open(os.path.join(HERE, "..", "lm", "templates", "qwen2.5.jinja")).read()
    config = Qwen2Config(vocab_size=len(tok), hidden_size=384, intermediate_size=1536, num_hidden_layers=9,
                         num_attention_heads=6, num_key_value_heads=2, max_position_embeddings=1024,
                         tie_word_embeddings=True, eos_token_id=tok.convert_tokens_to_ids("<|im_end|>"))
    torch.manual_seed(20)
    model = AutoModelForCausalLM.from_config(config).float()
    model.save_pretrained(model_dir)
    tok.save_pretrained(model_dir)
    print(sum(p.numel() for p in model.parameters()))


@torch.no_grad()
def score(model_dir, test, threads):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(threads)
    tok = AutoTokenizer.from_pretrained(model_dir)
    device = os.environ.get("TORCH_DEVICE", "cpu")
    model = AutoModelForCausalLM.from_pretrained(model_dir, attn_implementation="eager").float().eval().to(device)
    rows = [json.loads(line) for line in open(test) if line.strip()]
    seqs = sorted((scored_sequence(tok, r["messages"]) for r in rows), key=lambda s: len(s[0]))
    pad = tok.convert_tokens_to_ids("<|im_end|>")
    started = time.perf_counter()
    total, tokens = 0.0, 0
    for i in range(0, len(seqs), BATCH):
        chunk = seqs[i : i + BATCH]
        t = max(len(ids) for ids, _ in chunk)
        ids = torch.tensor([ids + [pad] * (t - len(ids)) for ids, _ in chunk], device=device)
        scored = torch.tensor([s[1:] + [False] * (t - len(s)) for _, s in chunk], device=device)
        logits = model(ids).logits[:, :-1]
        logp = torch.log_softmax(logits[scored], dim=-1)
        total -= logp.gather(1, ids[:, 1:][scored][:, None]).sum().item()
        tokens += int(scored.sum())
    seconds = time.perf_counter() - started
    print(json.dumps({"loss": total / tokens, "tokens": tokens, "seconds": seconds,
                      "tokens_per_second": tokens / seconds}))


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2], sys.argv[3])
    else:
        score(sys.argv[2], sys.argv[3], int(sys.argv[4]))
