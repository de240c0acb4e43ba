#!/usr/bin/env bash
# The whole suite, as `make test` runs it (the Makefile sets PATH and the Reflex env).
#  1. unit, service, integration and state tests with coverage of support_app/ (>= 85%)
#  2. the browser suite against the app with the in-memory state manager
#  3. the browser suite again with Reflex's Redis state manager (REFLEX_REDIS_URL)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
start=$(date +%s)

$PY -m pytest -q --ignore=tests/browser \
  --cov=support_app --cov-report=term --cov-fail-under=85

$PY -m pytest -q tests/browser --browser chromium
BROWSER_STATE_REDIS=1 $PY -m pytest -q tests/browser --browser chromium

echo "make test: all suites passed in $(( $(date +%s) - start ))s"
