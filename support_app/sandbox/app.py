"""Both sandboxes in one ASGI app on one database: /orders, /gateway and /health."""

from __future__ import annotations

import contextlib
from datetime import datetime
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from support_app.sandbox.db import SandboxDB
from support_app.sandbox.gateway import create_gateway_app
from support_app.sandbox.orders import create_orders_app


def create_sandbox_app(db_path: str | Path, webhook_url: str | None, webhook_secret: str, enable_faults: bool = True,
                       now: datetime | None = None) -> Starlette:
    """Open (or create and seed) ``db_path`` and serve the order system under /orders and the
    gateway under /gateway. ``now`` anchors the demo catalogue of a new database only.
    Shutting the app down (its lifespan) stops settlement timers and closes the database."""
    db = SandboxDB(db_path, now=now)
    orders = create_orders_app(db, enable_faults=enable_faults)
    gateway = create_gateway_app(db, webhook_url=webhook_url, webhook_secret=webhook_secret,
                                 enable_faults=enable_faults)

    async def health(request: Request) -> Response:
        count = await run_in_threadpool(lambda: db.conn().execute("SELECT count(*) FROM orders").fetchone()[0])
        return JSONResponse({"status": "ok", "orders": count, "anchor": db.anchor.isoformat()})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        yield
        await run_in_threadpool(gateway.state.gateway.close)
        db.close()

    app = Starlette(routes=[Route("/health", health, methods=["GET"]), Mount("/orders", app=orders),
                            Mount("/gateway", app=gateway)], lifespan=lifespan)
    app.state.db = db
    app.state.gateway = gateway.state.gateway
    return app
