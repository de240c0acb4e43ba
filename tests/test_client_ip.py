"""Client address behind proxies: X-Forwarded-For counted from the right by the
number of trusted hops, the same answer Reflex gives router.session.client_ip."""

from __future__ import annotations

import pytest
from reflex.app import EventNamespace
from reflex_base import constants
from reflex_base.config import get_config
from starlette.requests import Request

from support_app.security.client_ip import client_ip, resolve_client_ip
from support_app.settings import get_settings

PEER = "10.0.0.9"  # the balancer, as the app's socket sees it

# (X-Forwarded-For headers as received, trusted hops, expected client address)
CASES = [
    # No trusted proxy: the header is the client's own words and is ignored.
    ([], 0, PEER),
    (["6.6.6.6"], 0, PEER),
    # nginx alone (hops=1) appends the address it saw: the last entry.
    (["203.0.113.7"], 1, "203.0.113.7"),
    # A client spoofing a chain gets only its real address counted.
    (["6.6.6.6, 7.7.7.7, 203.0.113.7"], 1, "203.0.113.7"),
    # Two proxies (CDN, then nginx): the second entry from the right.
    (["6.6.6.6, 203.0.113.7, 198.51.100.2"], 2, "203.0.113.7"),
    # Longer chain than hops: entries further left are ignored.
    (["1.1.1.1, 2.2.2.2, 3.3.3.3, 4.4.4.4, 5.5.5.5"], 3, "3.3.3.3"),
    # Shorter chain than hops (the request skipped a proxy): the peer.
    (["203.0.113.7"], 2, PEER),
    ([], 1, PEER),
    ([" , "], 1, PEER),
    # Blanks and spaces are tolerated.
    ([" 6.6.6.6 ,, 203.0.113.7 "], 1, "203.0.113.7"),
    # Repeated headers are one comma-joined list: a spoofed first header does not help.
    (["6.6.6.6", "203.0.113.7"], 1, "203.0.113.7"),
    (["6.6.6.6", "203.0.113.7, 198.51.100.2"], 2, "203.0.113.7"),
    # IPv6 entries are taken as they are.
    (["2001:db8::1"], 1, "2001:db8::1"),
]


def scope(headers: list[str], peer: str | None = PEER) -> dict:
    return {
        "type": "http", "method": "GET", "path": "/", "query_string": b"",
        "headers": [(b"x-forwarded-for", h.encode()) for h in headers] + [(b"host", b"app")],
        "client": (peer, 51234) if peer else None,
    }


@pytest.mark.parametrize(("headers", "hops", "expected"), CASES)
def test_resolve_client_ip(headers, hops, expected):
    assert resolve_client_ip(PEER, ", ".join(headers), hops) == expected


@pytest.mark.parametrize(("headers", "hops", "expected"), CASES)
def test_starlette_request(headers, hops, expected):
    assert client_ip(Request(scope(headers)), hops) == expected


@pytest.mark.parametrize(("headers", "hops", "expected"), CASES)
def test_same_answer_as_reflex_gives_the_websocket(monkeypatch, headers, hops, expected):
    """Reflex's own resolution (the code behind router.session.client_ip), fed the same
    handshake, agrees with ours for every case."""
    monkeypatch.setattr(get_config(), "trusted_proxy_hops", hops)
    data = EventNamespace._build_static_router_data(None, "sid", {"asgi.scope": scope(headers)})
    assert data[constants.RouteVar.CLIENT_IP] == expected == client_ip(Request(scope(headers)), hops)


def test_no_peer_address_falls_back_like_reflex():
    assert client_ip(Request(scope([], peer=None)), 0) == "0.0.0.0"
    assert client_ip(Request(scope(["6.6.6.6"], peer=None)), 1) == "6.6.6.6"


def test_hops_default_to_the_setting(monkeypatch):
    request = Request(scope(["6.6.6.6, 203.0.113.7"]))
    monkeypatch.setattr(get_settings(), "trusted_proxy_hops", 0)
    assert client_ip(request) == PEER
    monkeypatch.setattr(get_settings(), "trusted_proxy_hops", 1)
    assert client_ip(request) == "203.0.113.7"
    monkeypatch.setattr(get_settings(), "trusted_proxy_hops", 2)
    assert client_ip(request) == "6.6.6.6"


def test_rxconfig_passes_the_settings_to_reflex():
    config = get_config()
    assert config.trusted_proxy_hops == get_settings().trusted_proxy_hops
    assert list(config.cors_allowed_origins) == get_settings().cors_origins
