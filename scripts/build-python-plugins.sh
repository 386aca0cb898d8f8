#!/usr/bin/env bash
# Builds the Python strategies of plugins/python into components next to the
# Rust plugins (plugins/target/wasm32-wasip2/release/python_<name>.wasm),
# where `w2s bench methods` and plugins/methods.toml find them. Needs the
# w2s binary (cargo build) and Python 3; installs the pinned componentize-py
# when missing. Each component embeds CPython (about 19 MB) and takes about
# 15 s to build. The tests build them on first use too (tests/all/helpers.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-python.sh
w2s="${W2S:-target/debug/w2s}"
out=plugins/target/wasm32-wasip2/release
mkdir -p "$out"
for app in plugins/python/*.py; do
    name="python_$(basename "$app" .py)"
    "$w2s" guest build "$app" -o "$out/$name.wasm"
done
