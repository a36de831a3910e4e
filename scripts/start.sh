#!/usr/bin/env bash
# Starts Crucible on http://127.0.0.1:3000 with the embedded defaults (SQLite and stored objects under
# ./crucible-data, the process runner, the reference evaluator with the reference-tiny base model under
# ./crucible-data/base-models), installing and building whatever is missing first: only what serving
# needs (the tools for the tests, and the reference miner, come with scripts/test.sh and scripts/demo.sh).
#
# On a new machine the build tools for the browser half (the wasm-bindgen CLI and cargo-leptos) take
# over twenty minutes to compile on two cores. So the first start builds the server alone and serves
# as soon as it is built: every page renders on the server and every form posts to it, so the platform
# is usable without JavaScript. The evaluator and base model, then the tools and the web assets, are
# built meanwhile in the background (./crucible-data/first-build.log); pages hydrate once the assets
# are there. Later starts build everything before serving, in seconds when nothing changed.
# Arguments go to `crucible serve` (e.g. `scripts/start.sh --addr 0.0.0.0:8080`).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$CRUCIBLE_ROOT"
export CRUCIBLE_BASE_MODELS="${CRUCIBLE_BASE_MODELS:-$CRUCIBLE_ROOT/crucible-data/base-models}"
export CRUCIBLE_EVALUATOR="${CRUCIBLE_EVALUATOR:-$CARGO_TARGET_DIR/debug/crucible-eval}"

# The reference evaluator and base model, so that submissions are scored out of the box (the small
# model takes minutes to make: crucible-base-models --dir crucible-data/base-models --size small).
evaluator() {
  step "the reference evaluator (crucible-eval) and the base-model maker"
  cargo build -q -p lm --bins
  if [ ! -f "$CRUCIBLE_BASE_MODELS/crucible/reference-tiny/model.safetensors" ] \
    || [ ! -f "$CRUCIBLE_BASE_MODELS/crucible/qwen2-tiny/model.safetensors" ]; then
    step "the base models crucible/reference-tiny, crucible/qwen2-tiny and crucible/llama-tiny (made once)"
    "$CARGO_TARGET_DIR/debug/crucible-base-models" --dir "$CRUCIBLE_BASE_MODELS" --size tiny
  fi
}

if bash scripts/ensure-tools.sh --check; then
  step "the server and its web assets (cargo leptos build)"
  cargo leptos build
  evaluator
else
  # The server as cargo-leptos builds it (the same command), so that its later build reuses it.
  step "the server, first (the web assets and the evaluator follow in the background)"
  cargo build --package=server --bin=crucible --no-default-features
  mkdir -p crucible-data
  log=crucible-data/first-build.log
  echo "==> building the evaluator, the build tools and the web assets in the background: $log"
  (
    evaluator
    step "the wasm32 target, the wasm-bindgen CLI and cargo-leptos (each installed once)"
    bash scripts/ensure-tools.sh
    step "the web assets (cargo leptos build)"
    cargo leptos build
    step "done: reload a page and it hydrates"
  ) >"$log" 2>&1 &
fi
step "serving"
exec "$CARGO_TARGET_DIR/debug/crucible" serve --site-root "$CRUCIBLE_ROOT/target/site" "$@"
