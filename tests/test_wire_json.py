"""state/wire_json.py: outgoing socket.io packets encoded by orjson are the text Reflex's
own encoder writes, for what the pages send and for what orjson cannot encode."""

from __future__ import annotations

import datetime as dt
import enum
import json
from types import SimpleNamespace

import engineio
import pytest
import socketio
from reflex.app import _sio_dumps
from reflex.istate.data import HeaderData, RouterData
from reflex.state import State, StateUpdate
from reflex_base.event import Event

from support_app.services.views import CaseDetail, EventView, MessageView, Option, OrderLineView, OrderView
from support_app.state import wire_json
from support_app.state.case_page import CaseState

COMPACT = {"separators": (",", ":")}


def case_detail(messages: int = 20) -> CaseDetail:
    lines = [OrderLineView(f"L{i}", f"SKU-{i}", f"Mug nº{i} — “blue”", 2, "€12.50", "€25.00") for i in range(3)]
    return CaseDetail(
        id=7, number="C-7", subject="Mug chipped 🙁", description="Arrived\nbroken", category_label="Damaged item",
        priority="normal", status="open", status_label="Open", customer_name="Zoë", customer_email="zoe@example.com",
        assignee_id=0, assignee_name="", created_at="2026-12-01T10:00:00Z", updated_at="2026-12-01T10:00:00Z",
        version=3, order=OrderView("ORD-1", "delivered", "2026-11-20T10:00:00Z", "2026-11-25T10:00:00Z", "EUR",
                                   "€25.00", 2, lines),
        messages=[MessageView(i, "Zoë", "customer", i % 3 == 0, "Hello <b>" * 5, "2026-12-01T10:00:00Z")
                  for i in range(messages)],
        timeline=[EventView(i, "status_changed", "Open → Pending", "Ann", False, "2026-12-01T10:00:00Z")
                  for i in range(messages)],
        next_statuses=[Option("pending", "Pending"), Option("resolved", "Resolved")],
    )


def page_update() -> StateUpdate:
    """What a case page load sends: the page's delta from a real state, and an event."""
    root = State(_reflex_internal_init=True)
    page = root.get_substate(CaseState.get_full_name().split("."))
    page._update(case=case_detail(), load_error="")
    page.load_error = "Nothing — “yet”"
    return StateUpdate(delta=root.get_delta(), events=[Event(name="_redirect", payload={"path": "/x"})])


class Colour(enum.Enum):
    BLUE = "blue"


@pytest.mark.parametrize("value", [
    page_update(),
    StateUpdate(),
    ["event", {"delta": {"a": {"n": 1, "f": 0.5, "none": None, "t": True}}}],
    {"when": dt.datetime(2026, 12, 6, 7, 0, tzinfo=dt.timezone.utc), "day": dt.date(2026, 12, 6)},
    {"colour": Colour.BLUE, "tags": {"x"}, 3: "int key", "nested": [[], {}, ()]},
    {"big": 2**70},  # beyond orjson's integers: Reflex's encoder writes it
    {"lone": "\ud800"},  # not UTF-8: Reflex's encoder writes it
], ids=["page load", "empty update", "plain", "datetimes", "enum set int-key tuple", "big int", "lone surrogate"])
def test_same_text_as_reflex(value):
    assert wire_json.dumps(value, **COMPACT) == _sio_dumps(value, **COMPACT)


def test_the_session_cookie_stays_on_the_server():
    """Reflex's serializer for request headers leaves the cookie out; orjson's own
    dataclass encoding would write it, so dataclasses go through Reflex's serializers."""
    headers = HeaderData(host="shop.example", cookie="support_session=SECRET",
                         raw_headers={"cookie": "support_session=SECRET", "host": "shop.example"})
    written = wire_json.dumps({"router": RouterData(headers=headers)}, **COMPACT)
    assert "SECRET" not in written and "shop.example" in written
    assert written == _sio_dumps({"router": RouterData(headers=headers)}, **COMPACT)


def test_orjson_writes_the_page_update(monkeypatch):
    """The common case is not the fallback: orjson itself encodes a page's update."""
    update = page_update()
    written = wire_json.dumps(update, **COMPACT)
    assert json.loads(written)["delta"][CaseState.get_full_name()]["case_rx_state_"]["messages"][0]["author_name"] == "Zoë"
    calls = []
    original = wire_json.format.json_dumps
    monkeypatch.setattr(wire_json.format, "json_dumps", lambda *a, **k: calls.append(a) or original(*a, **k))
    wire_json.dumps(update, **COMPACT)
    assert calls == []


def test_install_encodes_packets_and_keeps_decoding(monkeypatch):
    # A server sets both packet classes' codecs for the whole process: restored afterwards.
    monkeypatch.setattr(socketio.packet.Packet, "json", socketio.packet.Packet.json)
    monkeypatch.setattr(engineio.packet.Packet, "json", engineio.packet.Packet.json)
    decode = SimpleNamespace(loads=json.loads, dumps=json.dumps)
    server = socketio.AsyncServer(async_mode="asgi", json=decode)
    wire_json.install(SimpleNamespace(sio=server))
    assert server.packet_class.json.loads is json.loads
    update = page_update()
    packet = server.packet_class(socketio.packet.EVENT, data=["event", update], namespace="/_event")
    assert packet.encode() == "2/_event," + _sio_dumps(["event", update], **COMPACT)
