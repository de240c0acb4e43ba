"""Reads that many tabs share, made once per change instead of once per tab.

Every change to any support case pushes a new read of the agents' lists to every tab
showing one (support_app/live/push.py): with twenty agents on the workspace, one reply
meant twenty identical reads of the queue (measured at 150 sessions: ~15 workspace and
~7 case-list pushes a second, against ~76 actions). The part of such a read that is the
same for every agent is kept here, in this process.

Freshness is counted in generations: every change known to this process starts a new
one —

- a change committed in this process (``forget_after_commit``, called by
  ``live.changes.changed``), synchronously, before the service returns;
- a change from another process arriving on the bus (``Pusher.receive``).

A read is kept with the generation it started in. Who asks says how fresh it must be:

- a tab's own read (a page load, the reread after its own command) wants the current
  generation: it sees every change this process knows of, its own included;
- a push wants only the generation of the changes it carries (``fresh_since``): it
  exists to show them, and a change after them brings its own push. So the tabs pushed
  at one moment (push.py updates all list tabs together) share one read, even while
  more changes commit.

Nothing is kept longer than ``MAX_AGE``: what depends on the clock (overdue) and a change
whose bus message was lost are never more than that stale. A caller asking while a fresh
enough read of the same key is under way waits for it rather than read the same again.
Keys name the database, so two engines (tests, tools) never share an entry. Values must be
treated as read-only: callers build their own objects from them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.orm import Session

T = TypeVar("T")
MAX_AGE = 1.0  # seconds
WAIT_FOR_READ = 10.0  # seconds a caller waits for the same read by another thread
_STALE = "shared_reads_stale"
_FRESH_SINCE: ContextVar[int | None] = ContextVar("shared_reads_fresh_since", default=None)


class _Flight:
    """A read under way: callers asking for the same key meanwhile wait for its value."""

    def __init__(self, generation: int) -> None:
        self.generation = generation
        self.done = threading.Event()
        self.value: Any = None
        self.ok = False


class SharedReads:
    def __init__(self, max_age: float = MAX_AGE, clock: Callable[[], float] = time.monotonic,
                 wait: float = WAIT_FOR_READ) -> None:
        self.max_age = max_age
        self.wait = wait
        self._clock = clock
        self._lock = threading.Lock()
        self._generation = 0
        self._entries: dict[Hashable, tuple[int, float, Any]] = {}  # key -> (generation read in, when, value)
        self._flights: dict[Hashable, _Flight] = {}

    @property
    def generation(self) -> int:
        return self._generation

    def get(self, session: Session, key: Hashable, read: Callable[[], T]) -> T:
        """The value kept for ``key`` on ``session``'s database if it is fresh enough; else
        that of a fresh enough read under way in another thread; else ``read()``."""
        key = (str(session.get_bind().url), key)
        with self._lock:
            generation, now = self._generation, self._clock()
            wanted = _FRESH_SINCE.get()
            wanted = generation if wanted is None else min(wanted, generation)
            kept = self._entries.get(key)
            if kept is not None and kept[0] >= wanted and now - kept[1] < self.max_age:
                return kept[2]
            flight = self._flights.get(key)
            leader = flight is None or flight.generation < wanted
            if leader:
                flight = self._flights[key] = _Flight(generation)
        assert flight is not None
        if not leader:
            if flight.done.wait(self.wait) and flight.ok:
                return flight.value
            return read()  # that read failed or hangs: read alone
        try:
            flight.value = read()
            flight.ok = True
        finally:
            with self._lock:
                if self._flights.get(key) is flight:
                    del self._flights[key]
                kept = self._entries.get(key)
                if flight.ok and (kept is None or kept[0] <= generation):
                    self._entries[key] = (generation, now, flight.value)
            flight.done.set()
        return flight.value

    def forget_all(self) -> None:
        """A change: what was read before it no longer serves a tab's own reads."""
        with self._lock:
            self._generation += 1
            now = self._clock()
            for key in [k for k, (_, when, _) in self._entries.items() if now - when >= self.max_age]:
                del self._entries[key]


SHARED = SharedReads()


@contextmanager
def fresh_since(generation: int) -> Iterator[None]:
    """Reads in this block (in service threads too: runner.call copies the context) may
    use what was read in ``generation`` or later (a push of the changes up to it)."""
    token = _FRESH_SINCE.set(generation)
    try:
        yield
    finally:
        _FRESH_SINCE.reset(token)


def forget_after_commit(session: Session) -> None:
    """Start a new generation once ``session``'s transaction commits (it changed something
    shown). Outside a transaction: at once."""
    if session.in_transaction():
        session.info[_STALE] = True
    else:
        SHARED.forget_all()


@event.listens_for(Session, "after_commit")
def _forget_on_commit(session: Session) -> None:
    if not session.in_nested_transaction() and session.info.pop(_STALE, False):
        SHARED.forget_all()
