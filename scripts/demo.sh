#!/usr/bin/env bash
# The main job (README): set up, build, and evaluate plugins/vanilla on the
# default task (generated on first use), printing its PGR report.
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target add wasm32-wasip2 >/dev/null
scripts/build-plugins.sh --quiet
cargo build --locked --quiet -p w2s-cli -p w2s-runner
exec target/debug/w2s eval plugins/target/wasm32-wasip2/release/vanilla.wasm --json .w2s/vanilla-report.json "$@"
