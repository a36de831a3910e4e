#!/usr/bin/env bash
# Starts Crucible on http://127.0.0.1:3000 with the embedded defaults (SQLite and stored objects under
# ./crucible-data, the process runner), installing and building whatever is missing first.
# Arguments go to `crucible serve` (e.g. `scripts/start.sh --addr 0.0.0.0:8080`).
set -euo pipefail
source "$(dirname "$0")/env.sh"
bash "$CRUCIBLE_ROOT/scripts/ensure-tools.sh"
cd "$CRUCIBLE_ROOT"
cargo leptos build
exec "$CARGO_TARGET_DIR/debug/crucible" serve --site-root "$CRUCIBLE_ROOT/target/site" "$@"
