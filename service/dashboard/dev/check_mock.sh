#!/usr/bin/env bash
# Checks the dashboard against the mock (mock_server.py) in headless
# chromium: the main check (scripts/dashboard-check.sh), the unit tests of
# the pure functions (/dev/selftest), then every fixture of the mock:
# hostile strings stay text, a partial run, the private split absent, a
# suite report, nothing scored, long curves, polling from running to done, queued, failed,
# an unknown id, an empty leaderboard, competition mode, a failing API.
#   service/dashboard/dev/check_mock.sh [OUT_DIR]
# Page dumps and screenshots go to OUT_DIR (default: a temporary directory).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
out="${1:-$(mktemp -d -t w2s-dashboard-mock.XXXXXX)}"
mkdir -p "$out"
browser="${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}"
[[ -n "$browser" ]] || { echo "error: no chromium (scripts/ensure-chromium.sh)" >&2; exit 1; }
profile="$(mktemp -d -t w2s-chromium.XXXXXX)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$profile"
}
trap cleanup EXIT

# start_mock ARGS...: starts the mock on a free port; sets $url.
start_mock() {
  local log
  log="$(mktemp -p "$out" mock.XXXXXX.log)"
  python3 "$here/mock_server.py" --port 0 "$@" >"$log" 2>&1 &
  pids+=("$!")
  for _ in $(seq 300); do
    url="$(grep -o 'http://[0-9.:]*' "$log" | head -n 1 || true)"
    [[ -n "$url" ]] && return 0
    sleep 0.1
  done
  echo "error: the mock did not start: $(cat "$log")" >&2
  exit 1
}

failures=0
check() { # DESCRIPTION COMMAND...
  if "${@:2}"; then echo "ok   $1"; else echo "FAIL $1"; failures=$((failures + 1)); fi
}

# dump NAME PATH: the DOM of $url$PATH into OUT/NAME.html (and a screenshot).
dump() {
  local args=(--headless --no-sandbox --disable-gpu --disable-background-networking
    --disable-component-update --disable-sync --no-first-run --user-data-dir="$profile"
    --hide-scrollbars --virtual-time-budget=10000)
  timeout 120 "$browser" "${args[@]}" --dump-dom "$url$2" >"$out/$1.html" 2>>"$out/chromium.log"
  timeout 120 "$browser" "${args[@]}" --window-size=1280,4200 --screenshot="$out/$1.png" "$url$2" \
    >/dev/null 2>>"$out/chromium.log"
}
has() { grep -q -- "$2" "$out/$1.html"; }
lacks() { ! grep -q -- "$2" "$out/$1.html"; }
body() { grep -o '<body[^>]*>' "$out/$1.html" | grep -q -- "$2"; }
count() { grep -o -- "$2" "$out/$1.html" | wc -l; }

start_mock
check "main check (scripts/dashboard-check.sh)" "$repo/scripts/dashboard-check.sh" "$url" "$out/main"

dump selftest /dev/selftest
check "unit tests of the pure functions (/dev/selftest)" body selftest 'data-state="ok"'

dump hostile /submissions/sub-hostile
check "hostile: rendered" body hostile 'data-state="ok"'
check "hostile: no injected markup ran" lacks hostile 'data-pwned'
check "hostile: no injected element exists" lacks hostile '<img'
check "hostile: the name is shown as text" has hostile '&lt;img src=x onerror='
check "hostile: stdout is shown as text" has hostile '&lt;script&gt;document.body.dataset.pwned'
check "hostile: the metric name is a plot title, as text" has hostile '&lt;b&gt;loss&lt;/b&gt;'

dump partial /submissions/sub-partial
check "partial: rendered" body partial 'data-state="ok"'
check "partial: the out-of-fuel seed is shown" has partial 'fuel-exhausted'
check "partial: not rankable, with the reason" has partial 'did not complete'
check "partial: a NaN metric breaks the line" has partial 'non-finite value'

dump public /submissions/sub-public
check "private absent: rendered" body public 'data-state="ok"'
check "private absent: one split row" lacks public 'private (ranking)'
check "private absent: says so" has public 'The private split is not shown'

dump suite /submissions/sub-suite
check "suite: rendered" body suite 'data-state="ok"'
check "suite: a summary and one report table per task" test "$(count suite '<table class="report-table')" -eq 3

dump refused /submissions/sub-refused
check "nothing scored: rendered" body refused 'data-state="ok"'
check "nothing scored: says so" has refused 'Not scored'
check "nothing scored: the outcome is shown" has refused 'invalid-module'

dump large /submissions/sub-large
check "long curves: rendered" body large 'data-state="ok"'
check "long curves: thinned, and says so" has large 'of 100000 points drawn'

dump running /submissions/sub-running
check "running: polls until done and renders" body running 'data-status="done"'
check "running: plots rendered" has running 'class="series"'

dump queued /submissions/sub-queued
check "queued: still polling (not ready)" body queued 'data-ready="false"'
check "queued: says it is queued" has queued 'The submission is queued'

dump failed /submissions/sub-failed
check "failed: finished in state failed" body failed 'data-state="failed"'
check "failed: the error is shown as text" has failed 'evaluation failed: &lt;img'

dump missing /submissions/no-such-id
check "unknown id: an error state" body missing 'data-state="error"'
check "unknown id: the server's message is shown" has missing "no submission with id"

dump empty '/?task=wide'
check "empty leaderboard: says so" has empty 'No scored submission for task'

start_mock --competition
dump comp-board /
check "competition: leaderboard on the public split" has comp-board 'PGR (public)'
dump comp-sub /submissions/sub-vanilla
check "competition: no private row" lacks comp-sub 'private (ranking)'
check "competition: plots still render" has comp-sub 'class="series"'

start_mock --broken
dump broken /
check "failing API: an error state" body broken 'data-state="error"'
check "failing API: the error is visible" has broken 'HTTP 503'

echo "pages and screenshots in $out"
if [[ $failures -gt 0 ]]; then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "all checks passed"
