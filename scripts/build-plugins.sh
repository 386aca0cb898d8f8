#!/usr/bin/env bash
# Builds every plugin for wasm32-wasip2 into plugins/target, and the Python
# SDK's sockets-deny component (its own workspace: it builds without std),
# which `w2s guest build` plugs into Python strategies. The checkout's
# path is remapped so that no builder's path is embedded in a component.
# (The bytes still depend on the checkout's location: cargo hashes a path
# dependency's location into symbol names, which changes function order.
# A report is reproducible for a given wasm, not for given sources.)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo/plugins"
unset CARGO_TARGET_DIR
export RUSTFLAGS="--remap-path-prefix=$repo=/w2s"
(cd "$repo/guest-sdk/python/sockets-deny" && cargo build --release --locked "$@")
exec cargo build --release --locked "$@"
