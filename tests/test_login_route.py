"""POST /api/auth/login over loopback HTTP (support_app.api.auth), against this test's SQLite file.

A busy database is an operational moment, not a refused sign-in: security monitoring
counts ``sign_in_refused`` events (wrong passwords, throttling), and a busy spell under
load must not look like an attack there.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette

from fixtures_db import hold_write_lock, reset_app_caches
from fixtures_http import serve_asgi
from support_app import db
from support_app.api import auth as auth_route
from support_app.db import get_engine
from test_auth_service import PW, alice  # noqa: F401


@pytest.fixture
def app_url(engine, monkeypatch) -> Iterator[str]:
    monkeypatch.setenv("SUPPORT_DATABASE_URL", str(engine.url))
    reset_app_caches()
    try:
        with serve_asgi(Starlette(routes=auth_route.routes)) as url:
            yield url
    finally:
        reset_app_caches()


def _post_login(url: str, password: str) -> httpx.Response:
    return httpx.post(f"{url}/api/auth/login", data={"email": "alice@example.com", "password": password},
                      headers={"Origin": url}, follow_redirects=False, timeout=30)


def _security_kinds(caplog) -> list[str]:
    return [r.security for r in caplog.records if hasattr(r, "security")]


def test_a_wrong_password_is_a_security_event(app_url, alice, caplog):  # noqa: F811
    caplog.set_level(logging.INFO)
    answer = _post_login(app_url, "not the password")
    assert answer.status_code == 303 and "error=INVALID_CREDENTIALS" in answer.headers["location"]
    assert _security_kinds(caplog) == ["sign_in_refused"]


def test_a_busy_database_answers_busy_and_is_logged_as_operational_not_as_a_refusal(app_url, alice, monkeypatch,  # noqa: F811
                                                                                   caplog):
    caplog.set_level(logging.INFO)
    monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_MS", 30)
    get_engine().dispose()  # new connections take the short timeout
    started = threading.Event()
    holder = threading.Thread(target=hold_write_lock, args=(get_engine().url.database, 1.5, started))
    holder.start()
    started.wait()
    try:
        answer = _post_login(app_url, PW)
    finally:
        holder.join()
    assert answer.status_code == 303 and "error=SERVICE_BUSY" in answer.headers["location"]
    assert "sr_session" not in answer.headers.get("set-cookie", "")
    assert _security_kinds(caplog) == []
    assert any(r.levelno == logging.WARNING and "database busy" in r.getMessage() for r in caplog.records)
