#!/usr/bin/env bash
# A whole competition on this machine in minutes (the embedded defaults, nothing to set up): builds
# what it needs, then runs crucible-demo, which serves http://127.0.0.1:3000 with data under
# ./crucible-demo (made afresh), makes the reference base model, starts three reference miners, and as a
# demo customer uploads a sample dataset and runs one task to success. It prints where to watch and how
# to sign in, then serves until Ctrl-C. Arguments go to crucible-demo (e.g. `--port 8080`).
set -euo pipefail
source "$(dirname "$0")/env.sh"
bash "$CRUCIBLE_ROOT/scripts/ensure-tools.sh"
cd "$CRUCIBLE_ROOT"
cargo leptos build
cargo build -q -p lm --bins
cargo build -q -p miner
cargo build -q -p end2end --bin crucible-demo
export CRUCIBLE_BIN="$CARGO_TARGET_DIR/debug/crucible" LEPTOS_SITE_ROOT="$CRUCIBLE_ROOT/target/site"
exec "$CARGO_TARGET_DIR/debug/crucible-demo" "$@"
