"""Probes behind GET /api/health/ready: can this process reach what it needs?

Each probe is blocking (run it in a thread), bounds its own I/O by ``timeout`` and
returns "ok" or raises. ProbeFailed carries a short reason that is safe to show: no
URL, host or credential ever goes into it.
"""

from __future__ import annotations

import httpx
from sqlalchemy import text

from support_app.db import get_engine


class ProbeFailed(Exception):
    """A definite failure with a reason safe to show (e.g. "HTTP 503")."""


def database(timeout: float) -> str:
    engine = get_engine()
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT set_config('statement_timeout', :ms, true)"), {"ms": str(int(timeout * 1000))})
        conn.execute(text("SELECT 1")).scalar_one()
    return "ok"


def redis(url: str, timeout: float) -> str:
    import redis as redis_lib

    client = redis_lib.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        if not client.ping():
            raise ProbeFailed("no PONG")
    finally:
        client.close()
    return "ok"


def gateway(base_url: str, timeout: float) -> str:
    """GET <gateway>/health answers 200."""
    response = httpx.get(f"{base_url.rstrip('/')}/health", timeout=timeout, follow_redirects=False)
    if response.status_code != 200:
        raise ProbeFailed(f"HTTP {response.status_code}")
    return "ok"
