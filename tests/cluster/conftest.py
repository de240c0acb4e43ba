"""The cluster test's fixtures: the whole production topology started once for the
module (cluster_stack.Stack), the test's own view of its database, a customer of its
own with orders in the sandbox, and Debian's Chromium for Playwright.

Run alone: ``.venv/bin/python -m pytest -q tests/cluster`` (Redis databases
CLUSTER_REDIS_URL / CLUSTER_REFLEX_REDIS_URL, default 10 and 11; ports CLUSTER_PORTS,
default 4600-4699; see cluster_stack.py). COVERAGE_APP=1 runs every process it starts
under coverage, as tests/run_all.sh does.
"""

from __future__ import annotations

import os

import pytest
from playwright.sync_api import expect

from cluster_data import Customer, make_customer
from cluster_stack import Stack
from fixtures_browser import launch_args
from support_app.db import make_engine

# Two apps, four Reflex workers, a worker, the sandbox and Chromium share two cores.
expect.set_options(timeout=20000)

GATEWAY_TIMEOUT_SECONDS = 2
# A worker's claim must outlast its worst call: 2 x (2 s x 3 tries + backoff) + 5 s = 17.6 s.
LEASE_SECONDS = 18


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cluster")
    with Stack(
        tmp,
        apps=2,
        coverage=os.environ.get("COVERAGE_APP") == "1",
        settings={
            "SUPPORT_ORDER_CACHE_SECONDS": "0",
            "SUPPORT_CASE_CREATE_MAX": "1000",
            # Failed sign-ins per account (from one client) before the rate limit.
            "SUPPORT_LOGIN_MAX_FAILURES": "4",
            "SUPPORT_GATEWAY_TIMEOUT_SECONDS": str(GATEWAY_TIMEOUT_SECONDS),
        },
        worker_settings={"SUPPORT_WORKER_LEASE_SECONDS": str(LEASE_SECONDS), "SUPPORT_WORKER_POLL_SECONDS": "0.5"},
    ) as running:
        yield running


@pytest.fixture(scope="session")
def db(stack):
    engine = make_engine(stack.db_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def customer(stack, db) -> Customer:
    return make_customer(stack.sandbox, db, {"ORD-CLUSTER-B": 2, "ORD-CLUSTER-C": 4})


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    # Without the back/forward cache a page left for about:blank is unloaded, so its
    # websocket closes and the balancer logs which app served it (the tests read that).
    return launch_args(browser_type_launch_args, "--disable-back-forward-cache")
