import reflex as rx
from reflex_base.plugins.sitemap import SitemapPlugin

from support_app.settings import load_or_exit

# Every Reflex process loads this file first: unsafe or invalid settings stop it here
# with readable lines (exit status 78) before anything is compiled or served.
settings = load_or_exit()

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
