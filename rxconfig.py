import os

import reflex as rx
from reflex_base.plugins.sitemap import SitemapPlugin

from support_app.logs import configure as configure_logs
from support_app.settings import load_or_exit

# Every Reflex process loads this file first: unsafe or invalid settings stop it here
# with readable lines (exit status 78) before anything is compiled or served.
settings = load_or_exit()
configure_logs()  # the app's own log lines as JSON, with event/request ids

# A websocket frame over Reflex's buffer closes the connection without a word. Frames
# up to 2 MB are let in, so the event guard (support_app/state/event_guard.py) can
# answer an oversized event (its own limit is 256 KB) with a message instead.
os.environ.setdefault("REFLEX_SOCKET_MAX_HTTP_BUFFER_SIZE", str(2 * 1024 * 1024))
# Memory, not Reflex's default disk manager, when there is no Redis (one worker then):
# the disk copy is thrown away at every start anyway and costs a pickle per change.
# (Set only without Redis: an explicit mode would override REFLEX_REDIS_URL.)
if not os.environ.get("REFLEX_REDIS_URL"):
    os.environ.setdefault("REFLEX_STATE_MANAGER_MODE", "memory")
else:
    # Several backend workers share page state in Redis. Reflex would start 2 x cores + 1
    # of them; one per core (SUPPORT_WEB_WORKERS) is what the cores can run.
    os.environ.setdefault("GRANIAN_WORKERS", str(settings.web_workers))
    # A tab's events are all handled by the worker holding its websocket (and pushes to it
    # are made there too), so that worker may keep the tab's lock and state between events
    # instead of four Redis round trips per event; another worker asking for the lock
    # breaks the lease (Reflex's "oplock"; state/lease_flush.py mends a race in 0.10.1's
    # lease break that lost a tab's state under load).
    os.environ.setdefault("REFLEX_OPLOCK_ENABLED", "true")

config = rx.Config(
    app_name="support_app",
    telemetry_enabled=False,
    plugins=[rx.plugins.RadixThemesPlugin(theme=rx.theme(accent_color="indigo", radius="medium"))],
    disable_plugins=[SitemapPlugin],
    show_built_with_reflex=False,
    # router.session.client_ip = the hops-th X-Forwarded-For entry from the right
    # (support_app/security/client_ip.py does the same for plain HTTP routes).
    trusted_proxy_hops=settings.trusted_proxy_hops,
    # ("*",) is Reflex's own default (socket.io gets "*"); production refuses to start
    # without pinned https origins.
    cors_allowed_origins=tuple(settings.cors_origins),
)
