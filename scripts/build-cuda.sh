#!/usr/bin/env bash
# Builds `w2s` and `w2s-bench` with the `cuda` feature, with a CUDA toolkit
# from PyPI (no system CUDA needed, no GPU needed to build).
#
#   scripts/build-cuda.sh           # -> target/cuda/debug/{w2s,w2s-bench}, and .w2s/gpu/
#   scripts/build-cuda.sh --check   # CI: `cargo check` of the cuda code only
#
# .w2s/gpu/ is what scripts/gpu-check.sh runs on a GPU machine without a
# Rust toolchain: both binaries stripped, the vanilla plugin (when built:
# scripts/build-plugins.sh) and the cuRAND stand-in (stub/). Carry that one
# directory.
#
# What candle's `cuda` feature needs at build time, and where it comes from:
# - nvcc, cicc, ptxas and the CUDA headers (candle-kernels compiles its .cu
#   files to PTX and a static library): nvidia-cuda-nvcc, -nvvm, -crt,
#   -runtime, -cccl;
# - libraries to link against (cudarc links dynamically): cudart, cublas,
#   cublasLt, curand, nvrtc from their wheels, each given the unversioned
#   name the linker looks for; and libcuda, the driver, which no wheel
#   ships: a link-time stub is generated from cudarc's own bindings (the
#   real libcuda.so.1 of the GPU machine's driver is loaded at run time).
# - the variables the build scripts read: PATH (nvcc: cudaforge and
#   cudarc's `nvcc --version`), CUDA_ROOT/CUDA_PATH/CUDA_HOME (cudarc's
#   link search), CUDA_COMPUTE_CAP (cudaforge's target architecture; 90 is
#   H100/H200, sm_90a; override it for other GPUs).
# Versions follow the CUDA 13.2 that PyTorch 2.15 (cu132) ships, so that the
# GPU machine's driver, which runs that PyTorch, runs our PTX too.
#
# The build has its own target directory (target/cuda): the CPU build in
# target/ is left alone. --check installs only the compiler and headers and
# runs `cargo check -p w2s-train --features cuda`: all of the workspace's
# cuda-gated code is in w2s-train, and a check skips code generation and
# linking (so none of the 800 MB of libraries is needed) but still runs the
# build scripts, nvcc included, so candle's kernels are compiled too.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

MODE=build
case "${1:-}" in
    "") ;;
    --check) MODE=check ;;
    *) echo "usage: scripts/build-cuda.sh [--check]" >&2; exit 2 ;;
esac

CUDA_VERSION=13.2.86
COMPILER=(
    "nvidia-cuda-nvcc==$CUDA_VERSION" "nvidia-nvvm==$CUDA_VERSION"
    "nvidia-cuda-crt==$CUDA_VERSION" "nvidia-cuda-runtime==$CUDA_VERSION"
    "nvidia-cuda-cccl==13.3.5.0.6"
)
LIBRARIES=(
    "nvidia-cublas==13.4.1.3" "nvidia-curand==10.4.2.66"
    "nvidia-cuda-nvrtc==$CUDA_VERSION"
)

VENV=$ROOT/.w2s/cuda-venv
if [ ! -x "$VENV/bin/pip" ]; then
    python3 -m venv "$VENV"
fi
# One pip call per set: the wheels share the nvidia/cu13 directory.
packages=("${COMPILER[@]}")
[ "$MODE" = build ] && packages+=("${LIBRARIES[@]}")
"$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps "${packages[@]}"
CUDA=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/nvidia/cu13
[ -x "$CUDA/bin/nvcc" ] && [ -x "$CUDA/nvvm/bin/cicc" ] || {
    echo "error: no nvcc/cicc under $CUDA" >&2
    exit 1
}

# The link directory: unversioned names, and the driver stub.
LINK=$ROOT/.w2s/cuda-link
mkdir -p "$LINK/lib"
for lib in "$CUDA"/lib/lib*.so.*; do
    name=$(basename "$lib")
    ln -sf "$lib" "$LINK/lib/${name%%.so.*}.so"
done
if [ "$MODE" = build ]; then
    scripts/cuda-stub.sh driver "$LINK/lib/libcuda.so"
fi

export PATH=$CUDA/bin:$PATH
export CUDA_ROOT=$LINK CUDA_PATH=$LINK CUDA_HOME=$LINK
export CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-90}
# cudaforge runs nvcc on half the cores by default; the kernels are most of
# the build's time, and nothing else runs then.
export CUDAFORGE_THREADS=${CUDAFORGE_THREADS:-$(nproc)}
# nvcc finds its own headers (nvcc.profile); cudaforge also passes
# -I$CUDA_HOME/include for the libraries' headers.
ln -sfn "$CUDA/include" "$LINK/include"
export CARGO_TARGET_DIR=$ROOT/target/cuda

if [ "$MODE" = check ]; then
    cargo check -p w2s-train --features cuda --locked --all-targets
    exit 0
fi
cargo build -p w2s-cli -p w2s-runner -p w2s-bench --features w2s-cli/cuda,w2s-runner/cuda,w2s-bench/cuda --locked
echo "built $CARGO_TARGET_DIR/debug/w2s, w2s-runner and w2s-bench (cuda, compute capability $CUDA_COMPUTE_CAP)"

CARRY=$ROOT/.w2s/gpu
rm -rf "$CARRY"
mkdir -p "$CARRY/stub"
for exe in w2s w2s-bench; do
    strip -o "$CARRY/$exe" "$CARGO_TARGET_DIR/debug/$exe"
done
scripts/cuda-stub.sh curand "$CARRY/stub/libcurand.so.10"
vanilla=plugins/target/wasm32-wasip2/release/vanilla.wasm
if [ -f "$vanilla" ]; then
    cp "$vanilla" "$CARRY/"
else
    echo "note: no $vanilla (scripts/build-plugins.sh); gpu-check.sh needs it" >&2
fi
du -sh "$CARRY"
