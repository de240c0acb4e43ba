"""Structured logs: one JSON object per line, with the id of the event or request.

``configure()`` (called once per process by rxconfig.py, the worker and the sandbox)
sends the app's own loggers (``support_app.*``) to stderr as JSON lines:
``{"ts", "level", "logger", "msg", "event_id"?, "request_id"?, "tab"?, "user"?, ...}``.
``bind(...)`` puts ids on everything logged afterwards in the same event or request
(a context variable: service threads inherit it, see services/runner.call).

Security events carry ``"security": "<kind>"`` (sign-in refused, token reuse, access
refused, refund decisions, refused websocket events) so they can be found and counted.
What must never be in a log line is removed on the way out, whatever a message holds:
tokens (JWTs), email addresses and cookie headers are masked. Nobody should log them,
and tests check that nobody does; this is the net under that.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from contextvars import ContextVar
from datetime import datetime, timezone
from typing import Any

_context: ContextVar[dict[str, str]] = ContextVar("log_context", default={})
_JWT = re.compile(r"eyJ[\w-]{6,}\.[\w-]{6,}\.[\w-]+")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_COOKIE = re.compile(r"(sr_session|cookie)([\"']?\s*[:=]\s*)[^;,\s]+", re.IGNORECASE)
MAX_MESSAGE_CHARS = 2_000
_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


def bind(**ids: object) -> None:
    """Ids for every line logged from here on in this event or request."""
    _context.set({**_context.get(), **{k: str(v) for k, v in ids.items() if v is not None}})


def context() -> dict[str, str]:
    return _context.get()


def clear() -> None:
    _context.set({})


def scrub(text: str) -> str:
    """The text without tokens, email addresses or cookie values, and bounded."""
    text = _JWT.sub("[token]", text)
    text = _EMAIL.sub("[email]", text)
    text = _COOKIE.sub(r"\1\2[cookie]", text)
    return text if len(text) <= MAX_MESSAGE_CHARS else text[:MAX_MESSAGE_CHARS] + "…[cut]"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": scrub(record.getMessage()),
            **_context.get(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = scrub(str(value)) if isinstance(value, str) else value
        if record.exc_info:
            entry["error"] = scrub(self.formatException(record.exc_info))
        return json.dumps(entry, default=str, ensure_ascii=False)


_configured = False


def configure(level: int = logging.INFO) -> None:
    """The app's loggers write JSON lines to stderr (once per process)."""
    global _configured
    if _configured:
        return
    _configured = True
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    app_logger = logging.getLogger("support_app")
    app_logger.handlers[:] = [handler]
    app_logger.setLevel(level)
    app_logger.propagate = False


def security(log: logging.Logger, kind: str, message: str, *args: object, level: int = logging.WARNING, **fields: object) -> None:
    """Log a security event (``security`` field = ``kind``)."""
    log.log(level, message, *args, extra={"security": kind, **fields})


# -- security events that must only be told once they happened --------------------

_PENDING = "logs.after_commit"


def security_after_commit(session: Any, log: logging.Logger, kind: str, message: str, *args: object, **fields: object) -> None:
    """A security event (e.g. a refund decision) logged when ``session`` commits;
    nothing is logged if the transaction rolls back."""
    session.info.setdefault(_PENDING, []).append((log, kind, message, args, fields, dict(_context.get())))


def _flush_pending(session: Any) -> None:
    if session.in_nested_transaction():
        return
    for log, kind, message, args, fields, ids in session.info.pop(_PENDING, []):
        token = _context.set(ids)
        try:
            security(log, kind, message, *args, level=logging.INFO, **fields)
        finally:
            _context.reset(token)


def _drop_pending(session: Any, *_: object) -> None:
    session.info.pop(_PENDING, None)


def _install_session_hooks() -> None:
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    event.listen(Session, "after_commit", _flush_pending)
    event.listen(Session, "after_rollback", _drop_pending)


_install_session_hooks()
