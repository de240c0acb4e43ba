"""Structured logs: JSON lines with the event/request ids, security events marked,
and nothing that must not be logged (tokens, emails, cookies) ever written."""

from __future__ import annotations

import io
import json
import logging

import pytest
from sqlmodel import Session

from support_app import logs
from support_app.security import tokens


@pytest.fixture
def captured():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger("support_app.test_logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logs.clear()
    yield logger, lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)
    logs.clear()


def test_lines_are_json_with_the_bound_ids(captured):
    logger, lines = captured
    logs.bind(event_id="e1", user=7)
    logger.info("hello %s", "world")
    logs.security(logger, "access_refused", "refused %s", "FORBIDDEN", client="10.0.0.1")
    first, second = lines()
    assert first["msg"] == "hello world" and first["event_id"] == "e1" and first["user"] == "7"
    assert first["level"] == "info" and first["logger"] == "support_app.test_logs" and first["ts"].endswith("+00:00")
    assert second["security"] == "access_refused" and second["client"] == "10.0.0.1" and second["level"] == "warning"


def test_tokens_emails_and_cookies_never_reach_a_line(captured):
    logger, lines = captured
    token, _ = tokens.create_access_token(7, "agent")
    logger.warning("bad header cookie: sr_session=%s for alice@example.com", token)
    try:
        raise ValueError(f"user bob.chen+test@mail.example.co.uk sent {token}")
    except ValueError:
        logger.exception("failed")
    text = json.dumps(lines())
    assert token not in text and "eyJ" not in text and "example.com" not in text and "mail.example" not in text
    assert "[token]" in text and "[email]" in text


def test_long_messages_are_cut(captured):
    logger, lines = captured
    logger.warning("x" * 10_000)
    assert len(lines()[0]["msg"]) < 2_100


def test_security_events_after_commit_only(captured, engine):
    logger, lines = captured
    with Session(engine) as session:
        logs.security_after_commit(session, logger, "refund_decision", "refund %s approved", 1)
        session.rollback()
    with Session(engine) as session:
        session.connection()
        logs.bind(event_id="e2")
        logs.security_after_commit(session, logger, "refund_decision", "refund %s approved", 2)
        logs.clear()
        session.commit()
    [line] = lines()
    assert line["msg"] == "refund 2 approved" and line["security"] == "refund_decision" and line["event_id"] == "e2"
