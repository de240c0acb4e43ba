# The README's two commands: `make run` and `make test`. Everything else is plumbing.
SHELL := /bin/bash
ROOT := $(abspath .)
VENV := $(ROOT)/.venv
PY := $(VENV)/bin/python
TOOLS := $(ROOT)/.tools
CACHE := $(ROOT)/.cache
BUN_VERSION := 1.4.4
# Reflex asks for Node.js >= 22; Debian has 20. The npm registry carries Node binaries (package node).
NODE_VERSION := 22
PYTHON ?= python3
# make run: the app on PORT, the order-system and gateway sandbox process on SANDBOX_PORT.
PORT ?= 3000
SANDBOX_PORT ?= 3001

# Reflex builds here without downloads: bun from the npm registry, no version probes.
export PATH := $(TOOLS)/node_modules/.bin:$(VENV)/bin:$(PATH)
export REFLEX_USE_SYSTEM_BUN := 1
export REFLEX_CHECK_LATEST_VERSION := 0
export REFLEX_TELEMETRY_ENABLED := false
export NPM_CONFIG_REGISTRY ?= https://registry.npmjs.org/
export REFLEX_DIR := $(CACHE)/reflex
export BUN_INSTALL_CACHE_DIR := $(CACHE)/bun
export XDG_CACHE_HOME := $(CACHE)/xdg
export XDG_CONFIG_HOME := $(CACHE)/config
export PIP_CACHE_DIR := $(CACHE)/pip
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: run test install migrate bench bench-approvals bench-overview bench-cluster bench-events bench-load seed-large browsers nginx services clean help

help:
	@echo "make run    install, migrate, seed demo data (90 days of history) and serve http://localhost:3000 (sandbox on :3001)"
	@echo "make test   install, then run the whole test suite with coverage"
	@echo "make bench  approvals benchmark; overview benchmark after 'make seed-large'"
	@echo "make bench-cluster  approvals with one vs two app processes behind nginx"
	@echo "make bench-events  what one page load or event costs the app on an idle server (wall and CPU ms)"
	@echo "make bench-load  load benchmark: raw websocket sessions against the real app, 3 configurations (~30 min)"

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	touch $@

$(TOOLS)/node_modules/.bin/bun:
	mkdir -p $(TOOLS)
	cd $(TOOLS) && npm install --no-audit --no-fund --loglevel=error --prefix $(TOOLS) bun@$(BUN_VERSION)
	$@ --version

$(TOOLS)/node_modules/.bin/node:
	mkdir -p $(TOOLS)
	cd $(TOOLS) && npm install --no-audit --no-fund --loglevel=error --prefix $(TOOLS) node@$(NODE_VERSION)
	$@ --version

install: $(VENV)/.installed $(TOOLS)/node_modules/.bin/bun $(TOOLS)/node_modules/.bin/node

migrate: install
	$(PY) -m support_app.cli migrate

# Procfile: the sandbox process and the app, started together by honcho; Ctrl-C stops both. The web
# process first runs seed-demo, which waits for the sandbox (the demo history is read from its order
# system and sent to its gateway), then starts Reflex.
run: migrate
	@echo "Open http://localhost:$(PORT) once the web process is up; the accounts are printed by seed-demo and listed in the README (Ctrl-C stops everything)."
	WEB_PORT=$(PORT) SANDBOX_PORT=$(SANDBOX_PORT) \
	SUPPORT_ORDER_SYSTEM_URL="$${SUPPORT_ORDER_SYSTEM_URL:-http://127.0.0.1:$(SANDBOX_PORT)/orders}" \
	SUPPORT_PAYMENT_GATEWAY_URL="$${SUPPORT_PAYMENT_GATEWAY_URL:-http://127.0.0.1:$(SANDBOX_PORT)/gateway}" \
	$(VENV)/bin/honcho start

# Debian's Chromium headless shell for the browser suite (Playwright cannot download its own here).
browsers:
	@command -v chromium-headless-shell >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium-headless-shell; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium-headless-shell; fi; }

# Debian's nginx for the cluster test and the nginx template's tests: the balancer in
# front of the app processes. The tests run their own nginx (own config, own ports);
# the package's system service is not used.
nginx:
	@command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq nginx; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq nginx; fi; } \
	  || { echo "MISSING: Debian's nginx (apt-get install nginx): the cluster test needs it"; exit 1; }
	@command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { echo "MISSING: nginx is still not installed"; exit 1; }

# Redis and PostgreSQL are used for real by the tests; start them if this machine has them stopped.
services:
	@bash .ci/services.sh

test: install browsers nginx services
	bash tests/run_all.sh

# Benchmarks print figures; they are never pass/fail tests.
bench: bench-approvals bench-overview

bench-approvals: install
	$(PY) bench/approvals.py

# One vs two app processes behind nginx on PostgreSQL (tests/cluster's stack), approvals
# over the websocket protocol at 20 ms gateway latency.
bench-cluster: install browsers nginx services
	$(PY) bench/cluster.py

# 1,000,000 support cases, 300,000 refund cases, 100,000 customers in data/large.db.
seed-large: install
	$(PY) -m support_app.devdata.large --path data/large.db

bench-overview: install
	@[ -f data/large.db ] || { echo "data/large.db is missing: run 'make seed-large' first"; exit 1; }
	$(PY) bench/overview.py --path data/large.db
	$(PY) bench/overview_browser.py --path data/large.db

# Starts its own databases, sandbox and app per configuration (ports 4400-4401, Redis db 6 and 7 are
# flushed). BENCH_LOAD_ARGS adds options, e.g. BENCH_LOAD_ARGS="--configs redis-sqlite --levels 10 --duration 20".
BENCH_LOAD_ARGS ?=
# What one step costs the app on an idle server (one tab, one step at a time): wall ms and app CPU ms.
bench-events: install
	$(PY) bench/event_cost.py $(BENCH_EVENTS_ARGS)

bench-load: install
	@mkdir -p data
	$(PY) bench/load.py --out data/bench-load.json $(BENCH_LOAD_ARGS)

clean:
	rm -rf .web .web-* .states data/test-* .pytest_cache .coverage htmlcov
