"""The Reflex app: pages registered, sandbox services mounted — nothing else."""

from __future__ import annotations

import reflex as rx
from starlette.applications import Starlette
from starlette.routing import Mount

from support_app.integrations.orders_sandbox import create_orders_app
from support_app.pages import (  # noqa: F401  (registers pages)
    case_detail,
    cases,
    index,
    login,
    new_case,
    orders,
    refund_detail,
    refund_new,
)
from support_app.settings import get_settings


def _backend_routes() -> Starlette | None:
    settings = get_settings()
    if not settings.sandbox_enabled:
        return None
    faults = settings.sandbox_faults_enabled and settings.environment != "production"
    return Starlette(routes=[Mount("/sandbox/orders", app=create_orders_app(enable_faults=faults))])


app = rx.App(
    api_transformer=_backend_routes(),
    toaster=rx.toast.provider(position="top-center", close_button=True),
)
