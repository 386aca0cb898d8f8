#!/usr/bin/env bash
# Installs the official Python MCP SDK (PyPI `mcp`, pinned below) into its
# own virtual environment, .w2s/mcp-venv, for tests/all/mcp.rs: a real MCP
# client drives `w2s mcp` over stdio. Nothing else goes into that venv.
# Prints the venv's python on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
pin="mcp==2.3.0"
venv=".w2s/mcp-venv"
if ! "$venv/bin/python" -c 'import importlib.metadata as m, sys; sys.exit(m.version("mcp") != sys.argv[1])' "${pin#mcp==}" 2>/dev/null; then
    echo "installing $pin into $venv" >&2
    mkdir -p .w2s
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$pin" >&2
fi
echo "$PWD/$venv/bin/python"
