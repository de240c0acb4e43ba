"""Change notifications: a small publish/subscribe bus, and publishing on commit.

A message is a hint that something changed ("attempt 42 is due", later "refund 7
changed"), never the data itself: a subscriber reads the database for the truth.
So a lost message costs latency, not correctness, and every subscriber keeps a
fallback (the worker polls). Two implementations behind one interface:

- ``LocalBus``: in-process, callbacks run in the publishing thread (the embedded
  default: one process, nothing else installed);
- ``RedisBus``: Redis pub/sub, for several processes on several machines. One
  listener thread per bus owns the subscription connection, delivers messages to
  the callbacks, and reconnects (re-subscribing) when Redis goes away; messages
  published while it is away are lost, as above. Publishing hands the message to a
  publisher thread (in order, bounded queue), so a slow or absent Redis never holds
  up the request that committed.

``get_bus()`` picks one from SUPPORT_REDIS_URL (channels prefixed with
SUPPORT_REDIS_PREFIX: Redis pub/sub channels are server-wide, not per database).

``publish_after_commit(session, channel, message)`` queues a message on the
SQLAlchemy session and publishes it only once the transaction commits: a
subscriber woken by it must find the change already visible, and a rollback (or a
rolled-back savepoint) must publish nothing.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Protocol

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from support_app.settings import get_settings

log = logging.getLogger(__name__)

Callback = Callable[[str], None]
Unsubscribe = Callable[[], None]


class Bus(Protocol):
    def publish(self, channel: str, message: str) -> None:
        """Best effort: a transport failure is logged, never raised."""
        ...

    def subscribe(self, channel: str, callback: Callback) -> Unsubscribe:
        """Call ``callback(message)`` for every message on ``channel`` from now on."""
        ...

    def close(self) -> None: ...


class _Callbacks:
    """Thread-safe registry shared by both buses; a failing callback is logged and skipped."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_channel: dict[str, list[Callback]] = {}

    def add(self, channel: str, callback: Callback) -> Unsubscribe:
        with self._lock:
            self._by_channel.setdefault(channel, []).append(callback)

        def remove() -> None:
            with self._lock:
                callbacks = self._by_channel.get(channel, [])
                if callback in callbacks:
                    callbacks.remove(callback)
                if not callbacks:
                    self._by_channel.pop(channel, None)

        return remove

    def channels(self) -> set[str]:
        with self._lock:
            return set(self._by_channel)

    def deliver(self, channel: str, message: str) -> None:
        with self._lock:
            callbacks = list(self._by_channel.get(channel, ()))
        for callback in callbacks:
            try:
                callback(message)
            except Exception:  # noqa: BLE001 — one subscriber must not break the others
                log.exception("bus subscriber on %r failed", channel)


class LocalBus:
    """In-process bus: ``publish`` runs the callbacks in the caller's thread."""

    def __init__(self) -> None:
        self._callbacks = _Callbacks()

    def publish(self, channel: str, message: str) -> None:
        self._callbacks.deliver(channel, message)

    def subscribe(self, channel: str, callback: Callback) -> Unsubscribe:
        return self._callbacks.add(channel, callback)

    def close(self) -> None:
        pass


class RedisBus:
    """Redis pub/sub. The listener thread starts with the first subscription."""

    POLL_SECONDS = 0.2  # how often the listener looks for new subscriptions and for closing
    SUBSCRIBE_WAIT_SECONDS = 5.0
    OUTBOX_SIZE = 10_000  # messages waiting for the publisher thread; beyond that they are dropped

    def __init__(self, url: str, prefix: str = "support:") -> None:
        import redis

        self._redis = redis
        self._prefix = prefix
        self._client = redis.Redis.from_url(
            url, socket_timeout=2, socket_connect_timeout=2, health_check_interval=30,
            client_name=f"{prefix.rstrip(':')}-bus"[:60].replace(" ", "-"),
        )
        self._callbacks = _Callbacks()
        self._active: set[str] = set()  # channels Redis confirmed, guarded by _changed
        self._changed = threading.Condition()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._outbox: queue.Queue[tuple[str, str] | None] = queue.Queue(self.OUTBOX_SIZE)
        self._publisher = threading.Thread(target=self._publish_loop, name="bus-redis-publisher", daemon=True)
        self._publisher.start()

    def publish(self, channel: str, message: str) -> None:
        try:
            self._outbox.put_nowait((channel, message))
        except queue.Full:
            log.warning("bus: publisher backlog full; dropped a message on %r", channel)

    def _publish_loop(self) -> None:
        while (item := self._outbox.get()) is not None:
            channel, message = item
            try:
                self._client.publish(self._prefix + channel, message)
            except (self._redis.RedisError, OSError) as exc:
                log.warning("bus: could not publish on %r: %s", channel, exc)

    def subscribe(self, channel: str, callback: Callback) -> Unsubscribe:
        """Returns once Redis confirmed the subscription (or after a few seconds if Redis
        is unreachable: the listener keeps trying and subscribes when it is back)."""
        remove = self._callbacks.add(channel, callback)
        self._ensure_listener()
        with self._changed:
            if not self._changed.wait_for(lambda: channel in self._active, self.SUBSCRIBE_WAIT_SECONDS):
                log.warning("bus: subscription to %r not confirmed yet; Redis unreachable?", channel)
        return remove

    def close(self) -> None:
        """Publish what is queued (a few seconds at most), stop both threads."""
        self._outbox.put(None)
        self._publisher.join(timeout=10)
        self._closed.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._client.close()

    def _ensure_listener(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._listen, name="bus-redis-listener", daemon=True)
                self._thread.start()

    def _listen(self) -> None:
        delay = 0.1
        while not self._closed.is_set():
            pubsub = self._client.pubsub()
            try:
                self._serve(pubsub)
                delay = 0.1
            except (self._redis.RedisError, OSError) as exc:
                log.warning("bus: Redis subscription lost (%s); reconnecting in %.1f s", exc, delay)
                self._closed.wait(delay)
                delay = min(delay * 2, 5.0)
            finally:
                with self._changed:
                    self._active.clear()
                try:
                    pubsub.close()
                except (self._redis.RedisError, OSError):
                    pass

    def _serve(self, pubsub) -> None:
        """Keep the subscriptions in line with the callbacks and deliver messages."""
        subscribed: set[str] = set()
        while not self._closed.is_set():
            wanted = self._callbacks.channels()
            if wanted - subscribed:
                pubsub.subscribe(*(self._prefix + c for c in wanted - subscribed))
                subscribed |= wanted
            if subscribed - wanted:
                pubsub.unsubscribe(*(self._prefix + c for c in subscribed - wanted))
                subscribed &= wanted
                with self._changed:
                    self._active &= wanted
            message = pubsub.get_message(timeout=self.POLL_SECONDS)
            if message is None:
                if not subscribed:
                    time.sleep(self.POLL_SECONDS)
                continue
            channel = _text(message.get("channel"))[len(self._prefix):]
            if message["type"] == "subscribe":
                with self._changed:
                    self._active.add(channel)
                    self._changed.notify_all()
            elif message["type"] == "message":
                self._callbacks.deliver(channel, _text(message.get("data")))


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")


@lru_cache
def get_bus() -> Bus:
    settings = get_settings()
    return RedisBus(settings.redis_url, settings.redis_prefix) if settings.redis_url else LocalBus()


# -- publishing when the transaction commits ------------------------------------

_QUEUE = "live.bus.after_commit"


def publish_after_commit(session: Session, channel: str, message: str, bus: Bus | None = None) -> None:
    """Publish ``message`` on ``channel`` once ``session``'s transaction commits.

    Queued on the session (``session.info``) with the savepoint it was made in, so
    the rollback of that savepoint drops it; a rollback of the whole transaction
    drops everything; the same message twice in one transaction is sent once.
    Outside a transaction there is nothing to wait for: it is published at once.
    """
    if not session.in_transaction():
        (bus or get_bus()).publish(channel, message)
        return
    queue: list = session.info.setdefault(_QUEUE, [])
    item = (channel, message, bus)
    if not any(q[:3] == item for q in queue):
        queue.append((channel, message, bus, session.get_nested_transaction()))


@event.listens_for(Session, "after_commit")
def _publish_queued(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint released: the transaction goes on
        return
    for channel, message, bus, _savepoint in session.info.pop(_QUEUE, []):
        try:
            (bus or get_bus()).publish(channel, message)
        except Exception:  # noqa: BLE001 — the commit happened; a lost hint must not undo that for the caller
            log.exception("bus: publishing %r after commit failed", channel)


@event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    queue = session.info.get(_QUEUE)
    if not queue:
        return
    if not previous_transaction.nested:
        session.info.pop(_QUEUE, None)
        return
    session.info[_QUEUE] = [q for q in queue if not _inside(q[3], previous_transaction)]


@event.listens_for(Session, "after_transaction_end")
def _forget_unpublished(session: Session, transaction: SessionTransaction) -> None:
    # A root transaction that ended without commit (e.g. session.close()) publishes nothing.
    if transaction.parent is None:
        session.info.pop(_QUEUE, None)


def _inside(savepoint: SessionTransaction | None, ended: SessionTransaction) -> bool:
    while savepoint is not None:
        if savepoint is ended:
            return True
        savepoint = savepoint.parent
    return False
