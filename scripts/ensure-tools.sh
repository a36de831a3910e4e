#!/usr/bin/env bash
# Installs what building Crucible needs and is missing: the wasm32 target, cargo-leptos and the
# wasm-bindgen CLI. With `--test` also what the tests need: PostgreSQL, Chromium with its driver, s3s-fs.
# With `--check`, installs nothing and says (by its exit status) whether the build tools are there.
set -euo pipefail
source "$(dirname "$0")/env.sh"

# has_version BIN VERSION: BIN is on PATH and reports VERSION.
has_version() { command -v "$1" >/dev/null 2>&1 && "$1" --version 2>/dev/null | grep -qF "$2"; }

# cargo_tool BIN VERSION CRATE [cargo install flags...]
cargo_tool() {
  local bin=$1 version=$2 crate=$3; shift 3
  has_version "$bin" "$version" && return 0
  echo "==> installing $crate $version (once; it is kept in $CRUCIBLE_TOOLS)"
  # These are build tools, not the product: their crates' release profiles (cargo-leptos asks for fat
  # LTO and one codegen unit) cost minutes on two cores and buy nothing here.
  export CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
  # The registry mirror can lag a patch release behind: retry without --locked, as TOOLCHAIN.md advises.
  cargo install --root "$CRUCIBLE_TOOLS" "$crate@$version" --locked "$@" \
    || cargo install --root "$CRUCIBLE_TOOLS" "$crate@$version" "$@"
}

wasm_target() {
  local sysroot; sysroot=$(rustc --print sysroot)
  [ -d "$sysroot/lib/rustlib/wasm32-unknown-unknown/lib" ] && return 0
  local copy="$CRUCIBLE_ROOT/../shared/toolchain/ensure-wasm-target.sh"
  if [ -x "$copy" ]; then bash "$copy"; else rustup target add wasm32-unknown-unknown; fi
}

apt_packages() {
  local missing=()
  command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
  # The Docker runner's tests compile a static probe for their images FROM scratch.
  command -v gcc >/dev/null 2>&1 || missing+=(gcc)
  ls /usr/lib/*/libc.a >/dev/null 2>&1 || missing+=(libc6-dev)
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "==> apt-get install ${missing[*]}"
  local sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

# A virtual environment with the Bittensor key library (substrate-interface), from PyPI.
substrate_venv() {
  local python="$CRUCIBLE_SUBSTRATE_VENV/bin/python"
  "$python" -c "import substrateinterface" 2>/dev/null && return 0
  echo "==> installing substrate-interface $SUBSTRATE_INTERFACE_VERSION in $CRUCIBLE_SUBSTRATE_VENV"
  python3 -m venv "$CRUCIBLE_SUBSTRATE_VENV"
  "$CRUCIBLE_SUBSTRATE_VENV/bin/pip" install -q "substrate-interface==$SUBSTRATE_INTERFACE_VERSION"
}

# A virtual environment with the stock OpenAI SDK and an OpenAPI validator, from PyPI.
openai_venv() {
  local python="$CRUCIBLE_OPENAI_VENV/bin/python"
  "$python" -c "
import sys, openai, openapi_spec_validator as v
sys.exit(openai.__version__ != '$OPENAI_SDK_VERSION' or v.__version__ != '$OPENAPI_VALIDATOR_VERSION')" \
    2>/dev/null && return 0
  echo "==> installing openai $OPENAI_SDK_VERSION and openapi-spec-validator in $CRUCIBLE_OPENAI_VENV"
  python3 -m venv "$CRUCIBLE_OPENAI_VENV"
  "$CRUCIBLE_OPENAI_VENV/bin/pip" install -q "openai==$OPENAI_SDK_VERSION" \
    "openapi-spec-validator==$OPENAPI_VALIDATOR_VERSION"
}

if [ "${1:-}" = "--check" ]; then
  has_version wasm-bindgen "$WASM_BINDGEN_VERSION" && has_version cargo-leptos "$CARGO_LEPTOS_VERSION"
  exit
fi
wasm_target
cargo_tool wasm-bindgen "$WASM_BINDGEN_VERSION" wasm-bindgen-cli
# cargo-leptos only drives cargo and processes one CSS file: optimising it harder only costs build time.
CARGO_PROFILE_RELEASE_OPT_LEVEL=1 cargo_tool cargo-leptos "$CARGO_LEPTOS_VERSION" cargo-leptos --features no_downloads
if [ "${1:-}" = "--test" ]; then
  apt_packages
  cargo_tool s3s-fs "$S3S_FS_VERSION" s3s-fs --features binary
  substrate_venv
  openai_venv
fi
