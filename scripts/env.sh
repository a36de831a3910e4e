# Sourced by every script: where Crucible keeps its build outputs and tools, outside the clone,
# so that a reused machine (or CI) builds incrementally and installs each tool once.
CRUCIBLE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CRUCIBLE_CACHE="${CRUCIBLE_CACHE:-$HOME/.cache/crucible}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CRUCIBLE_CACHE/target}"
export CRUCIBLE_TOOLS="$CRUCIBLE_CACHE/tools"
# leptos reads LEPTOS_OUTPUT_NAME when it is compiled (to name the .wasm in its hydration script) and
# cargo-leptos sets it; setting it for every cargo command keeps `cargo test` from rebuilding leptos, and
# the server binary, with a different file name in its pages.
export LEPTOS_OUTPUT_NAME=crucible
# Incremental caches grow by gigabytes per edit and do not pay off for whole-workspace test runs.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
export PATH="$CRUCIBLE_TOOLS/bin:$HOME/.cargo/bin:$PATH"
# The versions the build is pinned to (see ../shared/TOOLCHAIN.md); wasm-bindgen must match Cargo.lock.
CARGO_LEPTOS_VERSION=0.3.10
WASM_BINDGEN_VERSION=0.2.130
S3S_FS_VERSION=0.14.1
# The standard Bittensor key library, for the test that a Python miner is accepted with no code of ours.
SUBSTRATE_INTERFACE_VERSION=1.8.1
export CRUCIBLE_SUBSTRATE_VENV="$CRUCIBLE_CACHE/substrate-venv"
# The stock OpenAI SDK, for the test that drives /v1 with it, and the OpenAPI validator the document is
# checked by.
OPENAI_SDK_VERSION=3.60.0
OPENAPI_VALIDATOR_VERSION=0.9.0
export CRUCIBLE_OPENAI_VENV="$CRUCIBLE_CACHE/openai-venv"

# step WHAT: announces a step with the seconds since the script began, so a first start shows where
# its time goes.
step() { echo "==> [$(printf '%4d' "$SECONDS") s] $*"; }

# pack_binary BIN DIR: copies BIN into DIR and, under DIR/rootfs, every shared library it links and the
# dynamic loader, at the paths the binary looks for them: a build context for an image FROM scratch.
pack_binary() {
  cp "$1" "$2/$(basename "$1")"
  for lib in $(ldd "$1" | grep -o '/[^ )]*'); do
    mkdir -p "$2/rootfs$(dirname "$lib")"
    cp -L "$lib" "$2/rootfs$lib"
  done
}
