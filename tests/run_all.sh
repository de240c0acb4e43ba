#!/usr/bin/env bash
# The whole suite, as `make test` runs it (the Makefile sets PATH and the Reflex env).
#  1. the browser suite against the app with the in-memory state manager, side by side with
#  2. the browser suite again with Reflex's Redis state manager (REFLEX_REDIS_URL), but for
#     what does not depend on where the state lives (listed below), then
#  3. the cluster test: PostgreSQL, Redis, two app processes, a worker and the sandbox
#     behind Debian's nginx (tests/cluster; Redis databases CLUSTER_REDIS_URL and
#     CLUSTER_REFLEX_REDIS_URL, default 10 and 11), then
#  4. unit, service, integration and security tests
# Coverage of support_app/ is measured in all four, including the processes the browser
# and cluster runs start, then combined and checked (>= 85%).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
COV="$PY -m coverage"
start=$(date +%s)
export COVERAGE_APP=1
# The browser suites' servers keep to their own ports (each pass its own range, the cluster
# test CLUSTER_PORTS), below the kernel's ephemeral range that servers on port 0 draw from.
export TEST_PORTS="${TEST_PORTS:-4800-4899}"
redis_ports="${TEST_PORTS_REDIS:-4900-4999}"
$COV erase

# Everything here is bound by CPU (Chromium's most of all), so the parts are laid out to
# keep both cores busy without piling up: the in-memory browser pass in one lane; the Redis
# browser pass, the cluster test and the unit suite one after the other in the other lane.
# The unit suite (two xdist workers) starts when the cluster test ends, a minute or so
# before the in-memory pass does; beside the whole browser pass it slowed the walks as much
# as it gained. Each app compiles its frontend into its own directory
# (tests/fixtures_browser.py). Every part runs even when an earlier one failed.
lane_log=$(mktemp)
(
  failed=""
  # The Redis pass leaves out what does not depend on where the state lives: how pages look
  # (axe scan, screenshots, the phone shell, toasts), the input checks made before an event
  # reaches any state, the authorization matrix (the handlers' checks are the same code
  # whichever manager holds the state; the forged events of test_raw_events stay in) and the
  # overview filters (their live updates and CSV links stay in, in test_my_refunds_live and
  # test_sessions).
  echo "--- browser suite with Redis state"
  BROWSER_STATE_REDIS=1 TEST_PORTS="$redis_ports" $COV run -p -m pytest -q tests/browser --browser chromium \
    --output test-results/browser-redis \
    --ignore=tests/browser/test_accessibility.py --ignore=tests/browser/test_page_shell.py \
    --ignore=tests/browser/test_bad_input.py --ignore=tests/browser/test_us4_overviews.py \
    --ignore=tests/browser/test_authorization_matrix.py --ignore=tests/browser/test_toasts.py || failed+=" redis-browser"
  echo "--- cluster test ($(( $(date +%s) - start ))s in)"
  $COV run -p -m pytest -q tests/cluster --browser chromium --output test-results/cluster || failed+=" cluster"
  echo "--- unit, service, integration and security tests ($(( $(date +%s) - start ))s in)"
  $COV run -p -m pytest -q -n 2 --ignore=tests/browser --ignore=tests/cluster || failed+=" unit"
  [ -z "$failed" ] || { echo "failed:$failed"; exit 1; }
) >"$lane_log" 2>&1 &
lane=$!
echo "--- browser suite with the in-memory state manager"
browser_rc=0
$COV run -p -m pytest -q tests/browser --browser chromium --output test-results/browser --durations=5 || browser_rc=$?
echo "--- (in-memory browser suite done $(( $(date +%s) - start ))s in)"
lane_rc=0
wait "$lane" || lane_rc=$?
cat "$lane_log"; rm -f "$lane_log"
[ "$browser_rc" = 0 ] && [ "$lane_rc" = 0 ] || {
  echo "make test: failed (in-memory browser suite $browser_rc; Redis browser suite, cluster and unit suite $lane_rc, the failed ones named above)"
  exit 1; }

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
