#!/usr/bin/env bash
# Starts Crucible on http://127.0.0.1:3000 with the embedded defaults (SQLite and stored objects under
# ./crucible-data, the process runner, the reference evaluator with the reference-tiny base model under
# ./crucible-data/base-models), installing and building whatever is missing first.
# Arguments go to `crucible serve` (e.g. `scripts/start.sh --addr 0.0.0.0:8080`).
set -euo pipefail
source "$(dirname "$0")/env.sh"
bash "$CRUCIBLE_ROOT/scripts/ensure-tools.sh"
cd "$CRUCIBLE_ROOT"
cargo leptos build
# The reference evaluator and base model, so that submissions are scored out of the box (the small
# model takes minutes to make: crucible-base-models --dir crucible-data/base-models --size small).
cargo build -q -p lm --bins
export CRUCIBLE_BASE_MODELS="${CRUCIBLE_BASE_MODELS:-$CRUCIBLE_ROOT/crucible-data/base-models}"
if [ ! -f "$CRUCIBLE_BASE_MODELS/crucible/reference-tiny/model.safetensors" ]; then
  "$CARGO_TARGET_DIR/debug/crucible-base-models" --dir "$CRUCIBLE_BASE_MODELS" --size tiny
fi
export CRUCIBLE_EVALUATOR="${CRUCIBLE_EVALUATOR:-$CARGO_TARGET_DIR/debug/crucible-eval}"
exec "$CARGO_TARGET_DIR/debug/crucible" serve --site-root "$CRUCIBLE_ROOT/target/site" "$@"
