#!/usr/bin/env bash
# Builds every plugin for wasm32-wasip2 into plugins/target. The checkout's
# path is remapped so the same sources give the same wasm (and so the same
# sha256, seeds and report) wherever the repository is cloned.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo/plugins"
unset CARGO_TARGET_DIR
export RUSTFLAGS="--remap-path-prefix=$repo=/w2s"
exec cargo build --release --locked "$@"
