"""The Reflex app: pages registered, API routes and sandboxes mounted — nothing else."""

from __future__ import annotations

import reflex as rx
from starlette.applications import Starlette
from starlette.routing import Mount

from support_app.api import export, gateway_webhook
from support_app.integrations.gateway_sandbox import create_gateway_app
from support_app.integrations.orders_sandbox import create_orders_app
from support_app.pages import (  # noqa: F401  (registers pages)
    case_detail,
    cases,
    index,
    login,
    metrics,
    new_case,
    orders,
    overview,
    refund_detail,
    refund_new,
    refund_queue,
)
from support_app.settings import get_settings
from support_app.worker.embedded import embedded_worker


def _backend_routes() -> Starlette:
    settings = get_settings()
    routes: list = [*gateway_webhook.routes, *export.routes]
    if settings.sandbox_enabled:
        faults = settings.sandbox_faults_enabled and settings.environment != "production"
        routes += [
            Mount("/sandbox/orders", app=create_orders_app(enable_faults=faults)),
            Mount(
                "/sandbox/gateway",
                app=create_gateway_app(
                    webhook_url=settings.gateway_webhook_url,
                    webhook_secret=settings.gateway_webhook_secret,
                    enable_faults=faults,
                ),
            ),
        ]
    return Starlette(routes=routes)


app = rx.App(
    api_transformer=_backend_routes(),
    toaster=rx.toast.provider(position="top-center", close_button=True),
)
# Claims and sends refund attempts (SUPPORT_EMBEDDED_WORKER); stops with the server.
app.register_lifespan_task(embedded_worker)
