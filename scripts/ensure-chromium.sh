#!/usr/bin/env bash
# Makes sure Debian's chromium is installed, for the dashboard's browser
# test (scripts/dashboard-check.sh). Prints the browser's path and exits 0
# when it is there; otherwise installs the `chromium` package with apt-get
# (as root, as CI runs), or exits 1 saying how to install it.
set -euo pipefail

find_chromium() {
  if [[ -n "${CHROMIUM:-}" && -x "${CHROMIUM}" ]]; then
    echo "$CHROMIUM"
    return 0
  fi
  for name in chromium chromium-browser; do
    if command -v "$name" >/dev/null 2>&1; then
      command -v "$name"
      return 0
    fi
  done
  return 1
}

if find_chromium; then
  exit 0
fi
if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
  echo "error: chromium is not installed; install Debian's package as root: apt-get install -y chromium" >&2
  exit 1
fi
echo "installing chromium (apt-get)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >&2
apt-get install -y -q chromium >&2
find_chromium || {
  echo "error: apt-get installed chromium but no chromium binary is on PATH" >&2
  exit 1
}
