#!/usr/bin/env bash
# Builds crucible-eval with the `cuda` feature where no CUDA toolkit is installed, as the GPU check in
# the README was built: nvcc 13.0 and CUDA 13.0's libraries come from PyPI into a virtual environment
# under ~/.cache/crucible, and a stub of the driver's library (soname libcuda.so.1) lets it link. The
# binary runs where the NVIDIA driver and CUDA 13's libraries are; scripts/bench-eval-gpu.sh checks it
# there. Not part of the tests. Usage: scripts/build-eval-cuda.sh [COMPUTE_CAP] [OUT]   (default: 90, the
# H100/H200's; ./gpu-bin, which git ignores, with a CPU-built crucible-base-models beside it)
set -euo pipefail
source "$(dirname "$0")/env.sh"
cap=${1:-90} out=${2:-$CRUCIBLE_ROOT/gpu-bin}
venv="$CRUCIBLE_CACHE/cuda-venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
# cudarc 0.17 (candle 0.10's) knows CUDA up to 13.0: every part of the compiler pinned to it.
"$venv/bin/pip" install -q nvidia-cuda-nvcc==13.0.88 nvidia-nvvm==13.0.88 nvidia-cuda-crt==13.0.88 \
  nvidia-cuda-runtime==13.0.96 nvidia-cuda-cccl==13.0.85 nvidia-cuda-nvrtc==13.0.88 \
  nvidia-cublas==13.0.2.14 nvidia-curand==10.4.5.25
root=$("$venv/bin/python" -c "import nvidia, os; print(os.path.join(list(nvidia.__path__)[0], 'cu13'))")
lib="$root/lib"
for name in cublas cublasLt cudart nvrtc; do ln -sf "lib$name.so.13" "$lib/lib$name.so"; done
ln -sf libcurand.so.10 "$lib/libcurand.so"
# The driver's functions cudarc declares, as empty ones to link against.
cd "$CRUCIBLE_ROOT"
cargo fetch -q
sys=$(find "${CARGO_HOME:-$HOME/.cargo}/registry/src" -path '*/cudarc-0.17.*/src/driver/sys/mod.rs' | head -1)
grep -hoE 'pub fn cu[A-Za-z0-9_]+' "$sys" | sed 's/pub fn //' | sort -u | awk '{print "void " $1 "(void) {}"}' \
  >"$lib/libcuda-stub.c"
cc -shared -fPIC -o "$lib/libcuda.so" -Wl,-soname,libcuda.so.1 "$lib/libcuda-stub.c"

CUDA_ROOT="$root" CUDA_PATH="$root" CUDA_COMPUTE_CAP="$cap" PATH="$root/bin:$PATH" \
  CARGO_TARGET_DIR="$CRUCIBLE_CACHE/target-cuda" cargo build --release -p lm --features cuda --bin crucible-eval
cargo build --release -p lm --bin crucible-base-models
mkdir -p "$out"
strip -o "$out/crucible-eval" "$CRUCIBLE_CACHE/target-cuda/release/crucible-eval"
strip -o "$out/crucible-base-models" "$CARGO_TARGET_DIR/release/crucible-base-models"
echo "$out: $(du -sh "$out" | cut -f1); run scripts/bench-eval-gpu.sh $out PYTHON on the GPU machine"
