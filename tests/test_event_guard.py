"""The event guard's rules (support_app/state/event_guard.py, security/inputs.py):
which events reach a handler at all. The browser-level refusals are in
tests/browser/test_bad_input.py."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from support_app.security.inputs import BadInput, check_payload, record_id, text_problem
from support_app.state.event_guard import _Refused, check_event


class Page:
    def set_text(self, value: str): ...

    def submit(self, form: dict): ...

    def step(self, line_id: str, delta: int = 1): ...

    def toggle(self, value: bool): ...

    def anything(self, **kwargs): ...

    def setvar(self, var_name: str, value: str): ...


HANDLERS = {f"state.page.{name}": SimpleNamespace(handler=SimpleNamespace(fn=getattr(Page, name)))
            for name in ("set_text", "submit", "step", "toggle", "anything", "setvar")}


def event(name: str, payload: object = None, **extra) -> dict:
    return {"name": name, "payload": {} if payload is None else payload, "router_data": {}, **extra}


@pytest.mark.parametrize(("data", "why"), [
    ("not json", "event is not JSON"),
    (["a", "list"], "event is not an object"),
    (event(""), "event name missing or too long"),
    (event("x" * 300), "event name missing or too long"),
    (event("state.page._secret"), "private handler"),
    (event("state._page.set_text", {"value": "x"}), "private handler"),
    (event("state.page.nope"), "unknown handler"),
    (event("state.page.setvar", {"var_name": "text", "value": "x"}), "generic handler"),
    (event("state.page.set_text", "value"), "the payload is not an object"),
    (event("state.page.set_text", {}), "arguments do not match the handler"),
    (event("state.page.set_text", {"value": "x", "extra": 1}), "arguments do not match the handler"),
    (event("state.page.set_text", {"value": {"a": [1, 2]}}), "argument 'value' has the wrong kind"),
    (event("state.page.set_text", {"value": 5}), "argument 'value' has the wrong kind"),
    (event("state.page.submit", {"form": "a string"}), "argument 'form' has the wrong kind"),
    (event("state.page.submit", {"form": ["a", "list"]}), "argument 'form' has the wrong kind"),
    (event("state.page.submit"), "arguments do not match the handler"),
    (event("state.page.toggle", {"value": "false"}), "argument 'value' has the wrong kind"),
    (event("state.page.step", {"line_id": "L1", "delta": "one"}), "argument 'delta' has the wrong kind"),
    (event("state.page.set_text", {"value": "a\x00b"}), "text with a NUL character"),
    (event("state.page.set_text", {"value": "a\ud800b"}), "text with an unpaired surrogate"),
    (event("state.page.set_text", {"value": "x" * 20_001}), "text longer than 20,000 characters"),
    (event("state.page.submit", {"form": {f"k{i}": "v" * 19_000 for i in range(20)}}), "payload too large"),
    (event("state.page.submit", {"form": {"a": [[[[[[[["deep"]]]]]]]]}}), "nested too deeply"),
    (event("state.page.submit", {"form": {str(i): i for i in range(1_200)}}), "too many values"),
    (event("state.page.set_text", {"value": "x"}, router_data="oops"), "router data is not an object"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_refused(data, why):
    with pytest.raises(_Refused) as refused:
        check_event(data, HANDLERS)
    assert refused.value.reason == why
    assert refused.value.message and "administrator" not in refused.value.message


@pytest.mark.parametrize("data", [
    event("state.page.set_text", {"value": "Hello, wörld ✓ 👋"}),
    json.dumps(event("state.page.set_text", {"value": "as a JSON string"})),
    event("state.page.submit", {"form": {"subject": "x", "urgent": True, "qty": 2, "tags": ["a"]}}),
    event("state.page.step", {"line_id": "L1"}),
    event("state.page.step", {"line_id": "L1", "delta": "-1"}),  # Reflex turns digit strings into ints
    event("state.page.toggle", {"value": False}),
    event("state.page.anything", {"whatever": {"goes": 1}}),  # **kwargs handlers check themselves
])
def test_accepted(data):
    check_event(data, HANDLERS)


def test_refusal_messages_say_what_to_do():
    for payload, text in (({"value": "x" * 20_001}, "too large"), ({"value": "\x00"}, "cannot be saved")):
        with pytest.raises(_Refused) as refused:
            check_event(event("state.page.set_text", payload), HANDLERS)
        assert text in refused.value.message
    with pytest.raises(_Refused) as unknown:
        check_event(event("state.page.gone"), HANDLERS)
    assert "reload" in unknown.value.message


def test_text_rules():
    assert text_problem("plain") is None and text_problem("é" * 20_000) is None
    assert text_problem("a" * 11, max_chars=10) == "text longer than 10 characters"
    with pytest.raises(BadInput):
        check_payload({"a": object()})
    with pytest.raises(BadInput):
        check_payload({"\x00": "key"})


@pytest.mark.parametrize("value, expected", [
    (7, 7), ("7", 7), ("0", 0), ("9" * 18, int("9" * 18)),
    ("9" * 19, None),  # past a 64-bit id: no row has it, and no driver is asked
    ("", None), (" 7", None), ("7 ", None), ("-7", None), ("1e3", None), ("٣", None), ("７", None),  # non-ASCII digits
    (True, None), (7.0, None), (None, None), ([7], None), ({"id": 7}, None),
])
def test_a_record_id_from_the_browser_is_an_int_or_ascii_digits_else_none(value, expected):
    assert record_id(value) == expected
