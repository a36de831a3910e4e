#!/usr/bin/env bash
# The reference evaluator against PyTorch on CPU, in one run: the same model (crucible/reference-small,
# made here), the same held-out instruct rows, the same masked cross-entropy; then a Qwen2-layout model
# of about 20M parameters on chat rows through its chat template, against transformers. crucible-eval (release)
# and bench/torch_eval.py (PyTorch in a virtual environment under ~/.cache/crucible) each report the
# scored tokens per second of their scoring, after loading; the script prints both, the ratio and the
# two losses, which must agree. Usage: scripts/bench-eval.sh [ROWS] [THREADS]   (default: 2000 2)
set -euo pipefail
source "$(dirname "$0")/env.sh"
rows=${1:-2000}
threads=${2:-2}

cd "$CRUCIBLE_ROOT"
cargo build --release -q -p lm --bins
release="$CARGO_TARGET_DIR/release"
venv="$CRUCIBLE_CACHE/torch-venv"
if ! "$venv/bin/python" -c "import torch, safetensors, tokenizers" 2>/dev/null; then
  echo "==> installing PyTorch, safetensors and tokenizers in $venv (once; PyTorch is a large download)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q torch safetensors tokenizers transformers peft
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/crucible-bench-eval.XXXXXX")
trap 'rm -rf "$work"' EXIT
# A short pre-training: the figures measure scoring speed, which the weights do not change.
"$release/crucible-base-models" --dir "$work/models" --size small --steps 30 >/dev/null
model="$work/models/crucible/reference-small"
python3 - "$rows" >"$work/test.jsonl" <<'PY'
import json, random, sys
random.seed(7)
words = "the a river garden bread cold warm light answer question number colour market train sea".split()
for i in range(int(sys.argv[1])):
    instruction = " ".join(random.choice(words) for _ in range(random.randint(4, 30)))
    output = " ".join(random.choice(words) for _ in range(random.randint(4, 60)))
    print(json.dumps({"instruction": f"Say something about {instruction}.", "input": None, "output": output, "system": None}))
PY
echo '{"task_type": "instruct"}' >"$work/spec.json"

echo "==> $rows held-out rows, $threads threads each, crucible/reference-small"
RAYON_NUM_THREADS=$threads "$release/crucible-eval" --spec "$work/spec.json" --base-model "$model" \
  --submission "$model" --test "$work/test.jsonl" --output "$work/out" >/dev/null
ours=$(cat "$work/out/metrics.json")
theirs=$("$venv/bin/python" bench/torch_eval.py "$model" "$work/test.jsonl" "$threads")
compare() {
  python3 - "$1" "$2" <<'PY'
import json, sys
ours, theirs = json.loads(sys.argv[1]), json.loads(sys.argv[2])
ours_tps = ours["tokens"] / ours["seconds"]
print(f"crucible-eval  {ours_tps:10.0f} scored tokens/s  ({ours['tokens']} tokens in {ours['seconds']:.2f} s)  loss {ours['loss']:.6f}")
print(f"PyTorch        {theirs['tokens_per_second']:10.0f} scored tokens/s  ({theirs['tokens']} tokens in {theirs['seconds']:.2f} s)  loss {theirs['loss']:.6f}")
print(f"ratio          {ours_tps / theirs['tokens_per_second']:.2f}x PyTorch (target >= 1x)")
agree = abs(ours["loss"] - theirs["loss"]) < 1e-3 and ours["tokens"] == theirs["tokens"]
print("losses agree" if agree else "LOSSES DIFFER: the two implementations do not compute the same thing")
sys.exit(0 if agree else 1)
PY
}
failed=0
compare "$ours" "$theirs" || failed=1

# A Qwen2-layout model of about 20M parameters (made with transformers, seeded), chat rows through
# Qwen2.5's chat template, the assistant turns scored.
echo "==> $rows held-out chat rows, $threads threads each, a Qwen2-layout model with transformers"
if ! "$venv/bin/python" -c "import transformers" 2>/dev/null; then
  "$venv/bin/pip" install -q transformers peft
fi
qwen="$work/qwen2-20m"
parameters=$("$venv/bin/python" bench/torch_eval_qwen2.py make "$qwen" "$model/tokenizer.json" 2>/dev/null | tail -1)
echo "    $parameters parameters"
python3 - "$rows" >"$work/chat.jsonl" <<'PY'
import json, random, sys
random.seed(8)
words = "the a river garden bread cold warm light answer question number colour market train sea".split()
for i in range(int(sys.argv[1])):
    say = lambda n: " ".join(random.choice(words) for _ in range(n))
    print(json.dumps({"messages": [{"role": "user", "content": say(random.randint(4, 30))},
                                   {"role": "assistant", "content": say(random.randint(4, 60))}]}))
PY
echo '{"task_type": "chat", "model_id": "qwen2-20m"}' >"$work/chat-spec.json"
RAYON_NUM_THREADS=$threads "$release/crucible-eval" --spec "$work/chat-spec.json" --base-model "$qwen" \
  --submission "$qwen" --test "$work/chat.jsonl" --output "$work/chat-out" >/dev/null
ours=$(cat "$work/chat-out/metrics.json")
theirs=$("$venv/bin/python" bench/torch_eval_qwen2.py score "$qwen" "$work/chat.jsonl" "$threads" 2>/dev/null | tail -1)
compare "$ours" "$theirs" || failed=1
exit $failed
