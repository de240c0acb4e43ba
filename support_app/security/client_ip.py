"""The client address of a plain HTTP request, resolved exactly as Reflex 0.10 resolves
``router.session.client_ip`` for the websocket (reflex/app.py,
``EventNamespace._build_static_router_data``).

X-Forwarded-For is written by the client unless the request came through trusted
proxies: each proxy appends the address it received the request from. With ``hops``
trusted proxies (SUPPORT_TRUSTED_PROXY_HOPS, 1 for nginx alone) the client is the
hops-th entry from the right; entries further left are whatever the client sent and
are ignored. With hops = 0, or a chain shorter than hops (the request did not come
through all the proxies), the TCP peer address is used. Repeated headers count as one
comma-joined list (RFC 9110), as in Reflex.
"""

from __future__ import annotations

from starlette.requests import Request

from support_app.settings import get_settings

UNKNOWN_PEER = "0.0.0.0"  # Reflex's fallback when the server gives no peer address


def resolve_client_ip(peer: str | None, forwarded_for: str, hops: int) -> str:
    client = peer or UNKNOWN_PEER
    if hops:
        forwarded = [ip.strip() for ip in forwarded_for.split(",") if ip.strip()]
        if len(forwarded) >= hops:
            client = forwarded[-hops]
    return client


def client_ip(request: Request, hops: int | None = None) -> str:
    """The client address of ``request``; ``hops`` defaults to the setting."""
    return resolve_client_ip(
        request.client.host if request.client else None,
        ", ".join(request.headers.getlist("x-forwarded-for")),
        get_settings().trusted_proxy_hops if hops is None else hops,
    )
