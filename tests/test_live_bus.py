"""The change-notification bus: in-process and real Redis pub/sub, and publishing
only after the SQLAlchemy transaction commits (real SQLite file).

Messages on Redis arrive asynchronously. To show that something was NOT delivered,
a sentinel is published afterwards by the same publisher: Redis delivers in the
order it processed the publishes, so once the sentinel is in, anything earlier
would be too.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import redis
from sqlalchemy import text
from sqlmodel import Session

from support_app.db import session_scope
from support_app.live.bus import Bus, LocalBus, RedisBus, publish_after_commit

HUNG = 15.0  # seconds: a guard against hanging, never a performance claim


class Inbox:
    """Collects (channel, message) pairs from callbacks in any thread."""

    def __init__(self) -> None:
        self.got: list[tuple[str, str]] = []
        self._cond = threading.Condition()

    def on(self, channel: str):
        def callback(message: str) -> None:
            with self._cond:
                self.got.append((channel, message))
                self._cond.notify_all()
        return callback

    def wait_for(self, item: tuple[str, str]) -> list[tuple[str, str]]:
        with self._cond:
            if not self._cond.wait_for(lambda: item in self.got, HUNG):
                pytest.fail(f"{item} never arrived; got {self.got}")
            return list(self.got)


@pytest.fixture(params=["local", "redis"])
def bus(request) -> Iterator[Bus]:
    if request.param == "local":
        yield LocalBus()
        return
    url, prefix = request.getfixturevalue("redis_url")
    b = RedisBus(url, prefix=prefix)
    yield b
    b.close()


def test_subscribers_get_their_channels_messages_until_they_unsubscribe(bus):
    inbox = Inbox()
    stop_a1 = bus.subscribe("a", inbox.on("a1"))
    bus.subscribe("a", inbox.on("a2"))
    bus.subscribe("b", inbox.on("b"))

    def broken(_message: str) -> None:
        raise RuntimeError("a subscriber bug")

    bus.subscribe("a", broken)  # must not keep the others from their messages
    bus.publish("a", "1")
    bus.publish("b", "2")
    bus.publish("c", "nobody listens")
    inbox.wait_for(("b", "2"))
    stop_a1()
    bus.publish("a", "3")
    bus.publish("b", "end")
    got = inbox.wait_for(("b", "end"))
    if ("a2", "3") not in got:  # a and b arrive in order on Redis; locally at once
        got = inbox.wait_for(("a2", "3"))
    assert sorted(got) == sorted([("a1", "1"), ("a2", "1"), ("b", "2"), ("a2", "3"), ("b", "end")])


def test_redis_bus_reaches_other_processes_buses_and_respects_the_prefix(redis_url):
    url, prefix = redis_url
    sender, receiver = RedisBus(url, prefix=prefix), RedisBus(url, prefix=prefix)
    stranger = RedisBus(url, prefix=f"other-{uuid.uuid4().hex[:8]}:")
    try:
        inbox = Inbox()
        receiver.subscribe("attempts", inbox.on("receiver"))
        stranger.subscribe("attempts", inbox.on("stranger"))
        sender.publish("attempts", "42")
        stranger.publish("attempts", "end")
        inbox.wait_for(("receiver", "42"))
        got = inbox.wait_for(("stranger", "end"))
        assert got.count(("receiver", "42")) == 1 and ("stranger", "42") not in got and ("receiver", "end") not in got
    finally:
        for b in (sender, receiver, stranger):
            b.close()


def test_redis_bus_resubscribes_after_its_connection_is_killed(redis_url):
    url, prefix = redis_url
    admin = redis.Redis.from_url(url)
    bus = RedisBus(url, prefix=prefix)
    try:
        inbox = Inbox()
        bus.subscribe("attempts", inbox.on("attempts"))
        bus.publish("attempts", "before")
        inbox.wait_for(("attempts", "before"))
        name = f"{prefix.rstrip(':')}-bus"

        def listener_ids() -> set[str]:
            """Connections of this bus holding subscriptions (its publishing connection holds none)."""
            return {c["id"] for c in admin.client_list() if c.get("name") == name and int(c.get("sub", 0)) > 0}

        [old] = listener_ids()
        assert admin.execute_command("CLIENT", "KILL", "ID", old) == 1
        # Messages published while it reconnects are lost (hints; subscribers poll as
        # well), so keep publishing until one arrives on a new connection.
        deadline, n = time.monotonic() + HUNG, 0
        while not any(m[1].startswith("after-") for m in inbox.got):
            assert time.monotonic() < deadline, "the bus never resubscribed"
            n += 1
            bus.publish("attempts", f"after-{n}")
            time.sleep(0.1)
        assert listener_ids() and old not in listener_ids()
    finally:
        bus.close()
        admin.close()


def test_redis_publish_without_redis_neither_raises_nor_waits_for_it(caplog):
    from fixtures_http import refused_url

    with refused_url() as http_url:
        port = http_url.rsplit(":", 1)[1]
        bus = RedisBus(f"redis://127.0.0.1:{port}/0", prefix="nowhere:")
        for n in range(3):
            bus.publish("attempts", str(n))  # queued: a wake-up is a hint, polling covers it
        bus.close()  # the publisher thread tried each one, in order
    assert caplog.text.count("could not publish") == 3


# -- publish_after_commit ----------------------------------------------------------


def sentinel(bus: Bus, inbox: Inbox) -> list[tuple[str, str]]:
    """What arrived apart from sentinels; everything published before this call has
    been delivered when it returns."""
    marker = f"sentinel-{uuid.uuid4().hex}"
    bus.publish("attempts", marker)
    return [m for m in inbox.wait_for(("attempts", marker)) if not m[1].startswith("sentinel-")]


def test_published_only_after_the_commit(bus, engine):
    inbox = Inbox()
    bus.subscribe("attempts", inbox.on("attempts"))
    seen_inside: list = []
    with session_scope(engine, write=True) as s:
        s.execute(text("SELECT 1"))
        publish_after_commit(s, "attempts", "7", bus)
        publish_after_commit(s, "attempts", "7", bus)  # the same hint twice in one transaction: once
        publish_after_commit(s, "attempts", "8", bus)
        seen_inside = sentinel(bus, inbox)
    assert seen_inside == []
    assert sentinel(bus, inbox) == [("attempts", "7"), ("attempts", "8")]


def test_never_published_after_a_rollback(bus, engine):
    inbox = Inbox()
    bus.subscribe("attempts", inbox.on("attempts"))
    with pytest.raises(RuntimeError):
        with session_scope(engine, write=True) as s:
            s.execute(text("SELECT 1"))
            publish_after_commit(s, "attempts", "failed-unit-of-work", bus)
            raise RuntimeError("the service failed")
    with session_scope(engine, write=True) as s:
        s.execute(text("SELECT 1"))
        publish_after_commit(s, "attempts", "rolled-back", bus)
        s.rollback()
        s.execute(text("SELECT 1"))  # a new transaction on the same session, committed empty
    with Session(engine) as s:  # closed without commit or rollback
        s.execute(text("SELECT 1"))
        publish_after_commit(s, "attempts", "closed", bus)
    assert sentinel(bus, inbox) == []


def test_a_rolled_back_savepoint_drops_only_its_own_messages(bus, engine):
    inbox = Inbox()
    bus.subscribe("attempts", inbox.on("attempts"))
    with session_scope(engine, write=True) as s:
        s.execute(text("SELECT 1"))
        publish_after_commit(s, "attempts", "outer", bus)
        with s.begin_nested():
            publish_after_commit(s, "attempts", "kept-savepoint", bus)
        try:
            with s.begin_nested():
                publish_after_commit(s, "attempts", "inner", bus)
                with s.begin_nested():
                    publish_after_commit(s, "attempts", "innermost", bus)
                raise ValueError("roll the savepoint back")
        except ValueError:
            pass
    assert sentinel(bus, inbox) == [("attempts", "outer"), ("attempts", "kept-savepoint")]


def test_outside_a_transaction_it_is_published_at_once(bus, engine):
    inbox = Inbox()
    bus.subscribe("attempts", inbox.on("attempts"))
    with Session(engine) as s:
        publish_after_commit(s, "attempts", "now", bus)
    assert sentinel(bus, inbox) == [("attempts", "now")]
