#!/usr/bin/env bash
# The GPU check of crucible-eval (issue 22): on a machine with an NVIDIA GPU, its driver and CUDA 13's
# libraries, scores the benchmark's Qwen2-layout model (about 20M parameters, made with transformers)
# on chat rows with a crucible-eval built `--features cuda`, once on the CPU (CRUCIBLE_EVAL_DEVICE=cpu)
# and once on the GPU, and with PyTorch on the GPU; prints each one's scored tokens/s and loss, which
# must agree. Needs no Rust toolchain there: BIN holds crucible-eval (cuda) and crucible-base-models,
# built elsewhere. Usage: scripts/bench-eval-gpu.sh BIN PYTHON [ROWS]   (PYTHON: one with torch and
# transformers)
set -euo pipefail
bin=$1 python=$2 rows=${3:-2000}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:-}:/usr/local/cuda/lib64"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
"$bin/crucible-base-models" --dir "$work/models" --size small --family reference --steps 30 >/dev/null
qwen="$work/qwen2-20m" torch=yes
if "$python" -c "import transformers" 2>/dev/null; then
  echo "parameters: $("$python" "$here/bench/torch_eval_qwen2.py" make "$qwen" "$work/models/crucible/reference-small/tokenizer.json" 2>/dev/null | tail -1)"
else
  echo "no transformers beside torch: the tiny Qwen2-layout reference model instead, and no PyTorch figure"
  "$bin/crucible-base-models" --dir "$work/models" --family qwen2 >/dev/null
  qwen="$work/models/crucible/qwen2-tiny" torch=no
fi
python3 - "$rows" >"$work/chat.jsonl" <<'PY'
import json, random, sys
random.seed(8)
words = "the a river garden bread cold warm light answer question number colour market train sea".split()
for i in range(int(sys.argv[1])):
    say = lambda n: " ".join(random.choice(words) for _ in range(n))
    print(json.dumps({"messages": [{"role": "user", "content": say(random.randint(4, 30))},
                                   {"role": "assistant", "content": say(random.randint(4, 60))}]}))
PY
echo '{"task_type": "chat", "model_id": "qwen2-20m"}' >"$work/spec.json"
# Each run is DEVICE or DEVICE:THREADS (scoring threads; all cores by default). The first GPU run also
# pays for the driver compiling candle's kernels (PTX) for this GPU, which it caches for the next.
for run in ${RUNS:-cpu cuda cuda cuda:1}; do
  device=${run%%:*} threads=${run#*:}
  [ "$threads" = "$run" ] && threads=$(nproc)
  CRUCIBLE_EVAL_DEVICE=$device CRUCIBLE_EVAL_THREADS=$threads "$bin/crucible-eval" --spec "$work/spec.json" \
    --base-model "$qwen" --submission "$qwen" --test "$work/chat.jsonl" --output "$work/out" >/dev/null
  python3 -c "import json,sys; m=json.load(open(sys.argv[1])); print(f'crucible-eval {sys.argv[2]:10}  {m[\"tokens\"]/m[\"seconds\"]:10.0f} scored tokens/s  loss {m[\"loss\"]:.6f}  ({m[\"tokens\"]} tokens in {m[\"seconds\"]:.2f} s)')" "$work/out/metrics.json" "$device, $threads threads"
done
[ "$torch" = yes ] || exit 0
TORCH_DEVICE=cuda "$python" "$here/bench/torch_eval_qwen2.py" score "$qwen" "$work/chat.jsonl" 16 2>/dev/null | tail -1 |
  python3 -c "import json,sys; m=json.loads(sys.stdin.read()); print(f'pytorch cuda              {m[\"tokens_per_second\"]:10.0f} scored tokens/s  loss {m[\"loss\"]:.6f}  ({m[\"tokens\"]} tokens in {m[\"seconds\"]:.2f} s)')"
