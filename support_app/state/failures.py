"""What a person sees when an event handler fails in a way no handler mapped:
a plain message (never the framework's "Contact the website administrator"), a
reference to quote, and buttons that work again. The log gets one bounded line with
the reference and the traceback (no payload, no headers)."""

from __future__ import annotations

import asyncio
import logging
import uuid

from reflex_base.event import EventSpec
from reflex_base.utils.exceptions import LockExpiredError

from support_app.domain.errors import MESSAGES, DomainError, ErrorCode
from support_app.services.runner import is_transient
from support_app.state.base import AppState
from support_app.state import toasts

log = logging.getLogger(__name__)


def _event_name() -> str:
    """The failed event's handler name (Reflex names the handler task after it)."""
    task = asyncio.current_task()
    name = task.get_name() if task else ""
    inner = name.split("task=[", 1)[-1]
    parts = inner.split("|")
    return parts[1][:120] if len(parts) > 2 and parts[0].startswith("reflex_event") else "-"


def message_for(exception: Exception, reference: str) -> str:
    """What the person reads for an error no handler mapped."""
    if isinstance(exception, DomainError):
        return exception.message
    if is_transient(exception):
        return MESSAGES[ErrorCode.SERVICE_BUSY]
    if isinstance(exception, LockExpiredError):
        # Redis state: the event outlived its state lock (a saturated worker). The
        # service call may have been saved while the page's state was not: reload.
        return MESSAGES[ErrorCode.PAGE_BUSY]
    if isinstance(exception, (TypeError, ValueError, KeyError, AttributeError)):
        return MESSAGES[ErrorCode.BAD_REQUEST]
    return f"{MESSAGES[ErrorCode.INTERNAL_ERROR]} (reference {reference})"


def on_backend_error(exception: Exception) -> list[EventSpec]:
    reference = uuid.uuid4().hex[:8]
    log.error("event %s failed (reference %s): %s", _event_name(), reference, type(exception).__name__,
              exc_info=(type(exception), exception, exception.__traceback__))
    return [toasts.error(message_for(exception, reference)), AppState.clear_busy()]
