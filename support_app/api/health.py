"""Health for load balancers and orchestrators.

GET /api/health/live  -> 200 {"status": "live"}: the process serves HTTP (no I/O).
GET /api/health/ready -> 200 {"status": "ready", "checks": {...}} when the database,
    Redis ("skipped" if not configured) and the payment gateway answer, else 503
    {"status": "not_ready", "checks": {...}}. Each check runs in a thread of its own
    small pool (a hanging dependency cannot take the threads the app's handlers use)
    and is bounded by CHECK_TIMEOUT_SECONDS. Check values are "ok", "skipped",
    "timeout" or "error: <reason>" — never a URL, host or secret.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from support_app.services import readiness
from support_app.settings import get_settings

log = logging.getLogger(__name__)
CHECK_TIMEOUT_SECONDS = 2.0
NO_STORE = {"Cache-Control": "no-store"}
_probes = ThreadPoolExecutor(max_workers=3, thread_name_prefix="health")


async def live(request: Request) -> JSONResponse:
    return JSONResponse({"status": "live"}, headers=NO_STORE)


async def _check(name: str, probe: Callable[..., str], *args: object) -> str:
    loop = asyncio.get_running_loop()
    try:
        return await asyncio.wait_for(
            loop.run_in_executor(_probes, probe, *args, CHECK_TIMEOUT_SECONDS), CHECK_TIMEOUT_SECONDS
        )
    except TimeoutError:
        log.warning("readiness check %s timed out after %ss", name, CHECK_TIMEOUT_SECONDS)
        return "timeout"
    except readiness.ProbeFailed as failed:
        log.warning("readiness check %s failed: %s", name, failed)
        return f"error: {failed}"
    except Exception as exc:  # noqa: BLE001 — any failure means "not ready"; its text may hold a host
        log.warning("readiness check %s failed: %s", name, type(exc).__name__)
        return f"error: {type(exc).__name__}"


async def _skipped() -> str:
    return "skipped"


async def ready(request: Request) -> JSONResponse:
    settings = get_settings()
    names = ("database", "redis", "gateway")
    results = await asyncio.gather(
        _check("database", readiness.database),
        _check("redis", readiness.redis, settings.redis_url) if settings.redis_url else _skipped(),
        _check("gateway", readiness.gateway, settings.payment_gateway_url),
    )
    checks = dict(zip(names, results, strict=True))
    ok = all(value in ("ok", "skipped") for value in checks.values())
    return JSONResponse(
        {"status": "ready" if ok else "not_ready", "checks": checks}, status_code=200 if ok else 503, headers=NO_STORE
    )


routes = [
    Route("/api/health/live", live, methods=["GET"]),
    Route("/api/health/ready", ready, methods=["GET"]),
]
