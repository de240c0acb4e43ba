"""The websocket's front door: every event is checked before Reflex queues it.

Reflex 0.10 hands any event to the named handler as it came (no type checks), logs an
unknown or private handler name in full and answers nothing, and drops the socket
without a word when a frame is over its buffer. Here, in each process, the
namespace's ``on_event`` is wrapped so that an event is queued only if

- it is an object naming a registered, public handler (no ``_`` part),
- its payload is bounded JSON whose texts hold no NUL or unpaired surrogate
  (security/inputs.py), and
- its arguments are exactly ones the handler takes, of the annotated kinds.

Anything else gets a refusal the person can read (a toast) and one bounded log line;
nothing is stored and the tab stays usable. The socket's frame limit is raised above
the payload limit (Makefile/rxconfig: REFLEX_SOCKET_MAX_HTTP_BUFFER_SIZE) so an
oversized event is answered here rather than cutting the connection.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
import json
import logging
import typing
from functools import lru_cache
from typing import Any

import reflex as rx
from reflex.state import StateUpdate
from reflex_base.event import Event
from reflex_base.registry import RegistrationContext

from support_app import logs
from support_app.domain.errors import MESSAGES, ErrorCode
from support_app.security.inputs import MAX_EVENT_CHARS, MAX_NAME_CHARS, BadInput, check_payload, matches
from support_app.state import toasts

log = logging.getLogger(__name__)
TOO_BIG = "That was too large to send. Please shorten it and try again."
# Reflex gives every state a generic ``setvar(var_name, value)`` that calls any
# ``set_<name>`` method; no page here uses it, so it is no way in either.
CLOSED_HANDLERS = frozenset({"setvar"})


class _Refused(Exception):
    def __init__(self, reason: str, message: str = MESSAGES[ErrorCode.BAD_REQUEST]) -> None:
        super().__init__(reason)
        self.reason, self.message = reason, message


def _decode(data: Any) -> dict:
    if isinstance(data, str):
        if len(data) > MAX_EVENT_CHARS:
            raise _Refused("event text too large", TOO_BIG)
        try:
            data = json.loads(data)
        except ValueError:
            raise _Refused("event is not JSON") from None
    if not isinstance(data, dict):
        raise _Refused("event is not an object")
    name, payload, router = data.get("name"), data.get("payload", {}), data.get("router_data", {})
    if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME_CHARS:
        raise _Refused("event name missing or too long")
    if not isinstance(router, dict):
        raise _Refused("router data is not an object")
    if any(part.startswith("_") for part in name.split(".")):
        raise _Refused("private handler", "That action is not available.")
    if name.rsplit(".", 1)[-1] in CLOSED_HANDLERS:
        raise _Refused("generic handler", "That action is not available.")
    try:
        size = len(json.dumps(payload))
    except (TypeError, ValueError):
        raise _Refused("payload is not JSON") from None
    if size > MAX_EVENT_CHARS:
        raise _Refused("payload too large", TOO_BIG)
    try:
        check_payload(payload)
    except BadInput as err:
        raise _Refused(str(err), _text_message(str(err))) from None
    return data


def _text_message(reason: str) -> str:
    if reason.startswith("text longer"):
        return TOO_BIG
    if "NUL" in reason or "surrogate" in reason:
        return "That text contains characters that cannot be saved. Please remove them and try again."
    return MESSAGES[ErrorCode.BAD_REQUEST]


@lru_cache(maxsize=512)
def _parameters(fn: Any) -> tuple[dict[str, Any], frozenset[str]] | None:
    """(annotation by parameter, the required ones) of a handler, ``self`` excluded; None
    for a catch-all (``**kwargs``) handler. Made once per handler, not per event."""
    signature = inspect.signature(fn)
    if any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values()):
        return None
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # noqa: BLE001 — unresolvable hints: fall back to the raw annotations
        hints = {}
    params = [p for p in list(signature.parameters.values())[1:]
              if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    annotations = {p.name: hints.get(p.name, p.annotation) for p in params}
    required = frozenset(p.name for p in params if p.default is inspect.Parameter.empty)
    return annotations, required


def check_event(data: Any, handlers: dict[str, Any]) -> None:
    """Raise _Refused unless the event may be queued (see the module text)."""
    event = _decode(data)
    registered = handlers.get(event["name"])
    if registered is None:
        raise _Refused("unknown handler", "That action is not available. Please reload the page.")
    payload = event.get("payload", {})
    parameters = _parameters(registered.handler.fn)
    if parameters is None:
        return  # Reflex's own catch-all handlers validate themselves
    annotations, required = parameters
    if set(payload) - set(annotations) or required - set(payload):
        raise _Refused("arguments do not match the handler")
    for key, value in payload.items():
        if not matches(value, annotations[key]):
            raise _Refused(f"argument {key!r} has the wrong kind")


@asynccontextmanager
async def guarded_events() -> AsyncIterator[None]:
    """Lifespan task: install the guard in this process."""
    from support_app.support_app import app  # the running app (it registers this task)

    install(app)
    yield


def install(app: rx.App) -> None:
    """Wrap this process's event namespace (called once per process at start-up)."""
    namespace = app.event_namespace
    handlers = RegistrationContext.get().event_handlers
    original = namespace.on_event

    async def on_event(sid: str, data: Any) -> None:
        try:
            check_event(data, handlers)
        except _Refused as refused:
            name = data.get("name") if isinstance(data, dict) else None
            logs.security(log, "event_refused", "event refused: %s (handler %.80r)", refused.reason,
                          name if isinstance(name, str) else "-")
            await _answer(namespace, sid, refused.message)
            return
        await original(sid, data)

    namespace.on_event = on_event  # python-socketio looks handlers up on the instance


async def _answer(namespace: Any, sid: str, message: str) -> None:
    token = namespace.sid_to_token.get(sid)
    if token is None:
        return
    events = Event.from_event_type([toasts.error(message)])
    await namespace.emit_update(StateUpdate(events=events), token)
