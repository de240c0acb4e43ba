#!/usr/bin/env bash
# The whole suite, as `make test` runs it (the Makefile sets PATH and the Reflex env).
#  1. unit, service, integration and security tests
#  2. the browser suite against the app with the in-memory state manager
#  3. the browser suite again with Reflex's Redis state manager (REFLEX_REDIS_URL)
# Coverage of support_app/ is measured in all three, including the app's own server
# process in the browser runs, then combined and checked (>= 85%).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
COV="$PY -m coverage"
start=$(date +%s)
export COVERAGE_APP=1
$COV erase

$COV run -p -m pytest -q -n 2 --ignore=tests/browser
$COV run -p -m pytest -q tests/browser --browser chromium
BROWSER_STATE_REDIS=1 $COV run -p -m pytest -q tests/browser --browser chromium

$COV combine -q
$COV report --fail-under=85
echo "make test: all suites passed in $(( $(date +%s) - start ))s"
