#!/usr/bin/env bash
# The whole suite, as `make test` runs it (the Makefile sets PATH and the Reflex env).
#  1. unit, service, integration and security tests
#  2. the browser suite against the app with the in-memory state manager
#  3. the browser suite again with Reflex's Redis state manager (REFLEX_REDIS_URL), but for
#     the checks of how pages look
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
$COV erase

$COV run -p -m pytest -q -n 2 --ignore=tests/browser --ignore=tests/cluster
$COV run -p -m pytest -q tests/browser --browser chromium --durations=5
# The Redis pass leaves out what does not depend on where the state lives and would add
# minutes to every run: how pages look (axe scan, screenshots, the phone shell), the input
# checks made before an event reaches any state, and the overview filters (their live
# updates and CSV links stay in, in test_my_refunds_live and test_sessions).
BROWSER_STATE_REDIS=1 $COV run -p -m pytest -q tests/browser --browser chromium \
  --ignore=tests/browser/test_accessibility.py --ignore=tests/browser/test_page_shell.py \
  --ignore=tests/browser/test_bad_input.py --ignore=tests/browser/test_us4_overviews.py
$COV run -p -m pytest -q tests/cluster --browser chromium

# A test process killed on purpose (SIGKILL of workers and servers) can leave an empty data
# file it had only begun to write: named here, then removed, so combine reads the rest.
for f in .coverage.*; do
  if [ -f "$f" ] && [ ! -s "$f" ]; then echo "coverage: empty data file $f (a process killed while saving) removed"; rm -f "$f"; fi
done
$COV combine -q
$COV report --fail-under=85
echo "make test: all suites passed in $(( $(date +%s) - start ))s"
