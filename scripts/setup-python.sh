#!/usr/bin/env bash
# Installs the Python guest toolchain pinned in guest-sdk/python/requirements.txt
# (componentize-py), unless that exact version is already on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
want="$(sed -n 's/^componentize-py==//p' guest-sdk/python/requirements.txt)"
have="$(componentize-py --version 2>/dev/null | sed -n 's/^componentize-py //p' || true)"
if [ "$have" != "$want" ]; then
    echo "installing componentize-py $want (found: ${have:-none})" >&2
    python3 -m pip install --quiet --disable-pip-version-check -r guest-sdk/python/requirements.txt
    hash -r
fi
componentize-py --version >/dev/null
