"""What a person reads when an event fails in a way no handler mapped (state/failures.py)."""

from __future__ import annotations

import asyncio
import logging

import pytest
from reflex_base.utils.exceptions import LockExpiredError
from sqlalchemy.exc import OperationalError

from support_app.domain.errors import MESSAGES, DomainError, ErrorCode
from support_app.state.failures import message_for, on_backend_error


@pytest.mark.parametrize(("exception", "code"), [
    (DomainError(ErrorCode.CASE_CLOSED), ErrorCode.CASE_CLOSED),
    (OperationalError("BEGIN IMMEDIATE", {}, Exception("database is locked")), ErrorCode.SERVICE_BUSY),
    (LockExpiredError("Lock expired for token abc while processing."), ErrorCode.PAGE_BUSY),
    (TypeError("unhashable type: 'list'"), ErrorCode.BAD_REQUEST),
    (KeyError("value"), ErrorCode.BAD_REQUEST),
])
def test_known_failures_get_their_plain_message(exception, code):
    assert message_for(exception, "ref00000") == MESSAGES[code]


def test_a_state_lock_that_expired_under_load_says_busy_and_reload_not_something_went_wrong():
    text = message_for(LockExpiredError("Lock expired"), "ref00000")
    assert "busy" in text and "reload" in text
    assert "Contact" not in text and "reference" not in text


def test_anything_else_names_a_reference_to_quote():
    assert message_for(RuntimeError("boom"), "ab12cd34") == f"{MESSAGES[ErrorCode.INTERNAL_ERROR]} (reference ab12cd34)"


def test_handler_logs_one_line_with_the_reference_and_answers_toast_and_unbusy(caplog):
    with caplog.at_level(logging.ERROR, logger="support_app.state.failures"):
        async def failed_event():  # Reflex calls the handler from the failed event's task
            return on_backend_error(LockExpiredError("Lock expired for token t"))

        events = asyncio.run(failed_event())
    assert len(events) == 2  # the toast, and AppState.clear_busy so buttons work again
    assert "clear_busy" in str(events[1].handler.fn.__name__)
    [record] = caplog.records
    assert "LockExpiredError" in record.getMessage() and record.exc_info is not None
