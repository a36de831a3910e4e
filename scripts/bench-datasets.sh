#!/usr/bin/env bash
# The dataset benchmark: validate + filter + split throughput and peak memory of `crucible datasets check`
# against the equivalent pandas pipeline, on generated instruct JSONL files (5 % degenerate rows).
# Usage: scripts/bench-datasets.sh [SIZE_MIB ...]   (default: 100 1024)
set -euo pipefail
source "$(dirname "$0")/env.sh"
sizes=("${@:-100}")
[ $# -eq 0 ] && sizes=(100 1024)

cd "$CRUCIBLE_ROOT"
cargo build --release -q -p server --bin crucible
crucible="$CARGO_TARGET_DIR/release/crucible"

venv="$CRUCIBLE_CACHE/bench-venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import pandas' 2>/dev/null; then
  echo "==> installing pandas in $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q pandas
fi

work="$CRUCIBLE_CACHE/bench-data"
mkdir -p "$work"
calc() { python3 -c "print($1)"; }
# measure OUT COMMAND...: runs COMMAND with its stdout in OUT; prints "SECONDS PEAK_RSS_MIB".
measure() {
  local out=$1; shift
  local start end
  start=$(date +%s.%N)
  /usr/bin/time -f '%M' -o "$work/rss" "$@" >"$out"
  end=$(date +%s.%N)
  echo "$(calc "$end - $start") $(calc "round($(cat "$work/rss") / 1024)")"
}

printf '\n%-8s %11s %13s %12s %11s %14s %9s\n' file "crucible s" "crucible MB/s" "crucible RSS" "pandas s" "pandas RSS" "speed-up"
for size in "${sizes[@]}"; do
  file="$work/instruct-${size}MiB.jsonl"
  [ -f "$file" ] || python3 bench/make_instruct.py "$file" "$size"
  bytes=$(stat -c %s "$file")
  cat "$file" >/dev/null  # both read the file from the page cache
  read -r ours ours_rss < <(measure "$work/report.json" "$crucible" datasets check "$file" --task-type instruct --seed 42)
  read -r _ pandas_rss < <(measure "$work/pandas.out" "$venv/bin/python" bench/pandas_pipeline.py "$file")
  theirs=$(awk '{print $1}' "$work/pandas.out")
  printf '%-8s %11.2f %13.1f %9s MiB %11.2f %10s MiB %8.1fx\n' "${size}MiB" "$ours" "$(calc "$bytes / 1e6 / $ours")" \
    "$ours_rss" "$theirs" "$pandas_rss" "$(calc "$theirs / $ours")"
  python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print('   crucible kept', r['usable_rows'], 'of', r['total_rows'], 'rows; train', r['train_rows'], 'test', r['test_rows'])" "$work/report.json"
  echo "   pandas kept train/test: $(awk '{print $2, $3}' "$work/pandas.out")"
done
echo "(crucible: the whole process, start-up included; pandas: its pipeline only, timed inside Python)"
