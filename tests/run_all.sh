#!/usr/bin/env bash
# The whole suite, as `make test` runs it (the Makefile sets PATH and the Reflex env).
#  1. unit, service, integration and security tests, side by side with
#  2. the browser suite against the app with the in-memory state manager
#  3. the browser suite again with Reflex's Redis state manager (REFLEX_REDIS_URL), but for
#     what does not depend on where the state lives (listed below)
#  4. the cluster test: PostgreSQL, Redis, two app processes, a worker and the sandbox
#     behind Debian's nginx (tests/cluster; Redis databases CLUSTER_REDIS_URL and
#     CLUSTER_REFLEX_REDIS_URL, default 10 and 11)
# Coverage of support_app/ is measured in all four, including the processes the browser
# and cluster runs start, then combined and checked (>= 85%).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
COV="$PY -m coverage"
start=$(date +%s)
export COVERAGE_APP=1
# The browser suites' servers keep to their own ports, below the kernel's ephemeral range that
# the unit suite's servers (port 0) draw from while both run.
export TEST_PORTS="${TEST_PORTS:-4800-4899}"
$COV erase

# 1 and 2 run side by side: the browser walks mostly wait (on Chromium, the app server and
# the live updates), the unit suite on its subprocesses and databases; one after the other
# they left a core idle for nine minutes. The unit suite's output follows once both are done.
unit_log=$(mktemp)
$COV run -p -m pytest -q -n 2 --ignore=tests/browser --ignore=tests/cluster >"$unit_log" 2>&1 &
unit=$!
browser_rc=0
$COV run -p -m pytest -q tests/browser --browser chromium --durations=5 || browser_rc=$?
unit_rc=0
wait "$unit" || unit_rc=$?
echo "--- unit, service, integration and security tests"
cat "$unit_log"; rm -f "$unit_log"
[ "$unit_rc" = 0 ] && [ "$browser_rc" = 0 ] || { echo "make test: failed (unit suite $unit_rc, browser suite $browser_rc)"; exit 1; }
# The Redis pass leaves out what does not depend on where the state lives and would add
# minutes to every run: how pages look (axe scan, screenshots, the phone shell, toasts), the
# input checks made before an event reaches any state, the authorization matrix (the
# handlers' checks are the same code whichever manager holds the state; the forged events of
# test_raw_events stay in) and the overview filters (their live updates and CSV links stay
# in, in test_my_refunds_live and test_sessions).
BROWSER_STATE_REDIS=1 $COV run -p -m pytest -q tests/browser --browser chromium \
  --ignore=tests/browser/test_accessibility.py --ignore=tests/browser/test_page_shell.py \
  --ignore=tests/browser/test_bad_input.py --ignore=tests/browser/test_us4_overviews.py \
  --ignore=tests/browser/test_authorization_matrix.py --ignore=tests/browser/test_toasts.py
$COV run -p -m pytest -q tests/cluster --browser chromium

# combine warns about each data file it cannot use (a test process killed on purpose, by
# SIGKILL of workers and servers, can leave one it had only begun to write) and leaves it;
# such a file is named again here and removed, so the clone is left clean and the report
# counts only data that was read.
$COV combine
for f in .coverage.*; do
  if [ -f "$f" ]; then echo "coverage: $f ($(stat -c %s "$f") bytes, written $(date -r "$f" +%T)) was not combined; removed"; rm -f "$f"; fi
done
$COV report --fail-under=85
echo "make test: all suites passed in $(( $(date +%s) - start ))s"
