#!/usr/bin/env bash
# Packs the reference recipe (lm/recipe/Dockerfile and crucible-train with the shared libraries it
# links) as a tournament recipe's build context: `scripts/reference-recipe.sh OUT.tar [FLAGS…]`, the
# flags being the recipe's own settings (`--learning-rate 0.003 --epochs 3`). Upload it with
# `PUT /api/v1/miner/recipes?name=…`. CRUCIBLE_TRAIN_BIN names the binary (default: the debug build).
set -euo pipefail
source "$(dirname "$0")/env.sh"
out=$1
shift
bin=${CRUCIBLE_TRAIN_BIN:-$CARGO_TARGET_DIR/debug/crucible-train}
[ -x "$bin" ] || { echo "no crucible-train at $bin: cargo build -p lm --bin crucible-train" >&2; exit 1; }
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
pack_binary "$bin" "$context"
[ "$(basename "$bin")" = crucible-train ] || mv "$context/$(basename "$bin")" "$context/crucible-train"
entry='"/crucible-train"'
for flag in "$@"; do entry+=", \"$flag\""; done
sed "s|^ENTRYPOINT .*|ENTRYPOINT [$entry]|" "$CRUCIBLE_ROOT/lm/recipe/Dockerfile" >"$context/Dockerfile"
tar -C "$context" -cf "$out" .
