#!/usr/bin/env bash
# Builds the reference evaluator's image: `scripts/evaluator-image.sh [TAG]` (default crucible-eval:latest)
# packs crucible-eval with the shared libraries it links beside lm/evaluator/Dockerfile and builds it with
# the Docker engine. Run it with `crucible serve --runner docker --evaluator TAG` (and `--evaluation-gpus`
# where the engine has GPUs). CRUCIBLE_EVAL_BIN names the binary (default: the debug build).
set -euo pipefail
source "$(dirname "$0")/env.sh"
tag=${1:-crucible-eval:latest}
bin=${CRUCIBLE_EVAL_BIN:-$CARGO_TARGET_DIR/debug/crucible-eval}
[ -x "$bin" ] || { echo "no crucible-eval at $bin: cargo build -p lm --bin crucible-eval" >&2; exit 1; }
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
pack_binary "$bin" "$context"
[ "$(basename "$bin")" = crucible-eval ] || mv "$context/$(basename "$bin")" "$context/crucible-eval"
cp "$CRUCIBLE_ROOT/lm/evaluator/Dockerfile" "$context/Dockerfile"
docker build -q -t "$tag" "$context" >/dev/null
echo "$tag"
