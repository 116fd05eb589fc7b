#!/usr/bin/env bash
# Opens a Cinergy report in headless Chromium from file:// and checks that it
# rendered: no console message or page error, every chart drew (the page's own
# canvas self-check, read back through --dump-dom), and saves a screenshot.
# Reusable by other tests (e.g. the orchestrator's quick run).
#
# Usage: check_report.sh REPORT.html SCREENSHOT.png
# Exit: 0 ok; 1 check failed (reason on stderr); 77 chromium missing (skip).
set -uo pipefail
report="${1:?usage: check_report.sh REPORT.html SCREENSHOT.png}"
shot="${2:?usage: check_report.sh REPORT.html SCREENSHOT.png}"
chromium="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$chromium" ]; then
  echo "check_report.sh: $chromium not found (apt-get install chromium)" >&2
  exit 77
fi
if [ ! -f "$report" ]; then
  echo "check_report.sh: no such report: $report" >&2
  exit 1
fi
url="file://$(realpath "$report")"
profile=$(mktemp -d /tmp/cinergy-chromium-XXXXXX)
work=$(mktemp -d /tmp/cinergy-check-XXXXXX)
trap 'rm -rf "$profile" "$work"' EXIT
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
       --disable-background-networking --disable-component-update --disable-sync
       --disable-extensions --disable-default-apps --mute-audio --hide-scrollbars
       --user-data-dir="$profile" --enable-logging=stderr --v=0
       --virtual-time-budget=15000 --window-size=1400,900)

timeout 120 "$chromium" "${flags[@]}" --dump-dom "$url" >"$work/dom.html" 2>"$work/dom.err"
rc=$?
if [ $rc -ne 0 ]; then
  echo "check_report.sh: chromium --dump-dom failed (exit $rc):" >&2
  tail -5 "$work/dom.err" >&2
  exit 1
fi
fail=0
# Any console message of the page (we log nothing on purpose) is a failure.
if grep -E 'CONSOLE|Uncaught' "$work/dom.err" >"$work/console.txt"; then
  echo "check_report.sh: console output from the page:" >&2
  cat "$work/console.txt" >&2
  fail=1
fi
status=$(grep -o 'data-render-status="[^"]*"' "$work/dom.html" | head -1 | sed 's/^data-render-status="//; s/"$//; s/&quot;/"/g')
ok=$(grep -o 'data-render-ok="[a-z]*"' "$work/dom.html" | head -1)
if [ -z "$status" ]; then
  echo "check_report.sh: the page did not finish rendering (no data-render-status)" >&2
  fail=1
else
  echo "render status: $status"
  if [ "$ok" != 'data-render-ok="yes"' ]; then
    echo "check_report.sh: a chart drew nothing, or the page reported an error" >&2
    fail=1
  fi
fi

# Full-page screenshot: tall window so every section is in the picture.
timeout 120 "$chromium" "${flags[@]}" --window-size=1400,6000 --screenshot="$shot" "$url" \
  >"$work/shot.out" 2>"$work/shot.err"
if [ ! -s "$shot" ]; then
  echo "check_report.sh: no screenshot written to $shot" >&2
  tail -5 "$work/shot.err" >&2
  fail=1
else
  echo "screenshot: $shot"
fi
exit $fail
