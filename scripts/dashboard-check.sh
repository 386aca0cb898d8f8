#!/usr/bin/env bash
# The dashboard's browser check, in headless chromium (no Node, no npm):
#   scripts/dashboard-check.sh BASE_URL [OUT_DIR]
# 1. loads BASE_URL/ (the leaderboard), waits for <body data-ready="true">,
#    and takes the first entry's link (a.entry-link);
# 2. loads that submission page and checks that it finished with the
#    submission done, at least one <svg class="plot"> holding a
#    <path class="series"> with a non-empty d, and the report table;
# 3. checks that no page ran injected markup (body[data-pwned]).
# Each page's DOM (*.html) and a screenshot (*.png) are written to OUT_DIR
# (default: a new temporary directory), for people to look at.
# Exit 0 when every check passes; otherwise 1 with the reason.
# The browser is $CHROMIUM, or chromium on PATH (scripts/ensure-chromium.sh).
set -euo pipefail

if [[ $# -lt 1 || $# -gt 2 ]]; then
  echo "usage: $0 BASE_URL [OUT_DIR]" >&2
  exit 2
fi
base="${1%/}"
if [[ ! "$base" =~ ^https?://[^/]+$ ]]; then
  echo "error: BASE_URL must be http://HOST:PORT, got \"$1\"" >&2
  exit 2
fi
out="${2:-$(mktemp -d -t w2s-dashboard.XXXXXX)}"
mkdir -p "$out"
browser="${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}"
if [[ -z "$browser" ]]; then
  echo "error: no chromium (run scripts/ensure-chromium.sh, or set CHROMIUM)" >&2
  exit 1
fi
profile="$(mktemp -d -t w2s-chromium.XXXXXX)"
trap 'rm -rf "$profile"' EXIT

fail() {
  echo "dashboard check failed: $*" >&2
  echo "(page dumps and screenshots in $out; browser log in $out/chromium.log)" >&2
  exit 1
}

# chromium ARGS... URL: headless, no network of its own, timers run on a
# virtual clock (10 s of it) so that the page's fetches and polling finish.
browse() {
  timeout 120 "$browser" --headless --no-sandbox --disable-gpu \
    --disable-background-networking --disable-component-update --disable-sync \
    --no-first-run --no-default-browser-check --user-data-dir="$profile" \
    --hide-scrollbars --virtual-time-budget=10000 "$@" 2>>"$out/chromium.log"
}

# page NAME URL HEIGHT: the DOM to OUT/NAME.html, a screenshot to OUT/NAME.png.
page() {
  browse --dump-dom "$2" >"$out/$1.html" || fail "chromium could not load $2"
  browse --window-size="1280,$3" --screenshot="$out/$1.png" "$2" >/dev/null \
    || fail "chromium could not take a screenshot of $2"
}

body_attr() { # FILE ATTR: the value of <body ATTR="...">, or nothing
  grep -o '<body[^>]*>' "$1" | head -n 1 | grep -o " $2=\"[^\"]*\"" | sed 's/^[^"]*"//; s/"$//' || true
}

page_error() { # FILE: the text of the error banner, if any
  tr '\n' ' ' <"$1" | grep -o '<div id="error"[^>]*>.*</div>' | sed 's/<[^>]*>//g' | head -c 400 || true
}

expect_ready() { # NAME FILE: body data-ready="true", data-state="ok", nothing injected
  local ready
  ready="$(body_attr "$2" data-ready)"
  [[ -n "$ready" ]] || fail "no dashboard $1 page came back (is the server at $base up?)"
  [[ "$ready" == true ]] || fail "the $1 page never finished rendering (data-ready=\"$ready\")"
  local state
  state="$(body_attr "$2" data-state)"
  [[ "$state" == ok ]] || fail "the $1 page ended in state \"$state\": $(page_error "$2")"
  [[ -z "$(body_attr "$2" data-pwned)" ]] || fail "markup injected into the $1 page ran"
}

page leaderboard "$base/" 1000
expect_ready leaderboard "$out/leaderboard.html"
entries="$(grep -o '<a [^>]*class="entry-link"[^>]*>' "$out/leaderboard.html" || true)"
[[ -n "$entries" ]] || fail "the leaderboard has no entry (a.entry-link)"
href="$(head -n 1 <<<"$entries" | grep -o 'href="/submissions/[^"]*"' | sed 's/^href="//; s/"$//')"
[[ -n "$href" ]] || fail "the first leaderboard entry has no /submissions/ link"

page submission "$base$href" 4200
sub="$out/submission.html"
expect_ready submission "$sub"
status="$(body_attr "$sub" data-status)"
[[ "$status" == done ]] || fail "submission $href is \"$status\", not done"
plots="$(grep -o '<svg [^>]*class="plot"' "$sub" | wc -l)"
[[ "$plots" -ge 1 ]] || fail "no <svg class=\"plot\"> on $href"
series="$(grep -o '<path [^>]*class="series"[^>]*>' "$sub" | grep -c ' d="M[^"]' || true)"
[[ "$series" -ge 1 ]] || fail "no <path class=\"series\"> with a non-empty d on $href"
grep -q '<table class="report-table' "$sub" || fail "no report table on $href"
rows="$(tr '\n' ' ' <"$sub" | grep -o '<table class="report-table[^"]*">.*' | sed 's|</table>.*||' | grep -o '<tr>' | wc -l)"
[[ "$rows" -ge 2 ]] || fail "the report table on $href has no row"

echo "dashboard ok: leaderboard $(wc -l <<<"$entries") entr(y/ies) -> $href: $plots plot(s), $series line(s), report table with $((rows - 1)) split(s); pages in $out"
