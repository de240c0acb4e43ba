"""The Reflex app: pages registered, API routes mounted — nothing else."""

from __future__ import annotations

from support_app.settings import load_or_exit

# Before the pages: their State classes read settings at import. Unsafe settings end
# the process here with readable lines instead of a traceback from deep inside.
load_or_exit()

import reflex as rx
from starlette.applications import Starlette
from starlette.middleware import Middleware

from support_app.api import auth, export, gateway_webhook, health
from support_app.api.request_ids import RequestIds
from support_app.event_loop import announced_loop
from support_app.pages import (  # noqa: F401  (each module records its pages in registry.PAGES)
    case_detail,
    cases,
    index,
    login,
    metrics,
    my_refunds,
    new_case,
    not_found,
    orders,
    overview,
    refund_detail,
    refund_new,
    refund_queue,
    workspace,
)
from support_app.pages.registry import PAGES
from support_app.live.push import live_updates
from support_app.state.event_guard import guarded_events
from support_app.state.failures import on_backend_error
from support_app.state import lease_flush  # noqa: F401  (patches Reflex's Redis state manager before it exists)
from support_app.state.lock_recheck import rechecked_lock_waits
from support_app.state.wire_json import orjson_packets
from support_app.worker.embedded import embedded_worker


def _backend_routes() -> Starlette:
    # The order system and the gateway (or their sandbox) are separate services, reached over HTTP.
    return Starlette(routes=[*gateway_webhook.routes, *export.routes, *health.routes, *auth.routes],
                     middleware=[Middleware(RequestIds)])


app = rx.App(
    api_transformer=_backend_routes(),
    # Bottom-right, clear of the navigation; toasts replace each other (state/toasts.py).
    toaster=rx.toast.provider(position="bottom-right", close_button=True),
    # The shell's phone layout, touch targets and focus rings (assets/shell.css).
    stylesheets=["/shell.css"],
    backend_exception_handler=on_backend_error,
)
for render, options in PAGES:
    app.add_page(render, **options)
# The worker's event loop in its log (uvloop, or a warning).
app.register_lifespan_task(announced_loop)
# Events are checked (handler, arguments, sizes, text) before Reflex queues them.
app.register_lifespan_task(guarded_events)
# Outgoing packets are encoded by orjson (the same text, several times faster).
app.register_lifespan_task(orjson_packets)
# Claims and sends refund attempts (SUPPORT_EMBEDDED_WORKER); stops with the server.
app.register_lifespan_task(embedded_worker)
# Pushes committed changes to the tabs of this process that show them (no page polls).
app.register_lifespan_task(live_updates)
# With Redis state: an event waiting for its tab's lock never sleeps through a missed release.
app.register_lifespan_task(rechecked_lock_waits)
