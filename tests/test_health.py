"""Health endpoints over real loopback HTTP, against the real PostgreSQL and Redis and
a small real gateway server (GET /health) — plus refused, failing and hanging ones."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from fixtures_db import pg_url, reset_app_caches  # noqa: F401
from fixtures_http import refused_url, serve_asgi
from support_app.api import health


class Gateway:
    """A stand-in payment gateway whose /health answers 200, 503 or not at all."""

    def __init__(self) -> None:
        self.status = 200
        self.hang = False
        self.release = threading.Event()

    def app(self) -> Starlette:
        async def health_route(request: Request) -> JSONResponse:
            if self.hang:
                await asyncio.to_thread(self.release.wait)
            return JSONResponse({"status": "ok" if self.status == 200 else "down"}, status_code=self.status)

        return Starlette(routes=[Route("/gateway/health", health_route)])


@pytest.fixture
def gateway() -> Iterator[tuple[Gateway, str]]:
    gw = Gateway()
    with serve_asgi(gw.app()) as url:
        yield gw, f"{url}/gateway"
        gw.release.set()


@pytest.fixture
def configure(monkeypatch):
    """Point the settings at the given database, Redis and gateway for one test."""

    def apply(database: str, gateway: str, redis: str | None = None) -> None:
        monkeypatch.setenv("SUPPORT_DATABASE_URL", database)
        monkeypatch.setenv("SUPPORT_PAYMENT_GATEWAY_URL", gateway)
        if redis:
            monkeypatch.setenv("SUPPORT_REDIS_URL", redis)
        else:
            monkeypatch.delenv("SUPPORT_REDIS_URL", raising=False)
        reset_app_caches()

    yield apply
    reset_app_caches()


@pytest.fixture
def app_url() -> Iterator[str]:
    with serve_asgi(Starlette(routes=health.routes)) as url:
        yield url


def get(url: str) -> httpx.Response:
    return httpx.get(url, timeout=15)


def test_live_answers_without_touching_anything(app_url, configure):
    with refused_url() as nowhere:
        configure(f"postgresql+psycopg://u:pw@{nowhere.removeprefix('http://')}/x", nowhere)
        response = get(f"{app_url}/api/health/live")
    assert response.status_code == 200 and response.json() == {"status": "live"}
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.postgres
def test_ready_when_database_redis_and_gateway_answer(app_url, configure, pg_url, redis_url, gateway):  # noqa: F811
    configure(pg_url, gateway[1], redis_url[0])
    response = get(f"{app_url}/api/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "redis": "ok", "gateway": "ok"}}


@pytest.mark.postgres
def test_redis_not_configured_is_skipped(app_url, configure, pg_url, gateway):  # noqa: F811
    configure(pg_url, gateway[1])
    response = get(f"{app_url}/api/health/ready")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "redis": "skipped", "gateway": "ok"}


@pytest.mark.postgres
def test_refused_gateway_is_not_ready(app_url, configure, pg_url, redis_url):  # noqa: F811
    with refused_url() as nowhere:
        configure(pg_url, f"{nowhere}/gateway", redis_url[0])
        response = get(f"{app_url}/api/health/ready")
    assert response.status_code == 503
    assert response.json() == {
        "status": "not_ready", "checks": {"database": "ok", "redis": "ok", "gateway": "error: ConnectError"}}
    assert nowhere.split(":")[-1] not in response.text  # no URL, host or port in the answer


@pytest.mark.postgres
def test_failing_gateway_is_not_ready(app_url, configure, pg_url, gateway):  # noqa: F811
    gw, url = gateway
    gw.status = 503
    configure(pg_url, url)
    response = get(f"{app_url}/api/health/ready")
    assert response.status_code == 503 and response.json()["checks"]["gateway"] == "error: HTTP 503"


@pytest.mark.postgres
def test_hanging_gateway_times_out(app_url, configure, pg_url, gateway, monkeypatch):  # noqa: F811
    gw, url = gateway
    gw.hang = True
    monkeypatch.setattr(health, "CHECK_TIMEOUT_SECONDS", 0.5)
    configure(pg_url, url)
    response = get(f"{app_url}/api/health/ready")
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok", "redis": "skipped", "gateway": "timeout"}


def test_unreachable_database_and_redis_are_not_ready_and_leak_nothing(app_url, configure, gateway):
    with refused_url() as db, refused_url() as redis:
        db_hostport, redis_hostport = db.removeprefix("http://"), redis.removeprefix("http://")
        configure(f"postgresql+psycopg://support:s3cretpw@{db_hostport}/support", gateway[1],
                  f"redis://:r3dispw@{redis_hostport}/0")
        response = get(f"{app_url}/api/health/ready")
    assert response.status_code == 503
    assert response.json() == {"status": "not_ready", "checks": {
        "database": "error: OperationalError", "redis": "error: ConnectionError", "gateway": "ok"}}
    for leak in ("s3cretpw", "r3dispw", "support", db_hostport.split(":")[1], redis_hostport.split(":")[1]):
        assert leak not in response.text


def test_mounted_with_the_other_api_routes():
    from support_app.support_app import _backend_routes

    paths = {getattr(route, "path", None) for route in _backend_routes().routes}
    assert {"/api/health/live", "/api/health/ready", "/api/gateway/webhook"} <= paths
