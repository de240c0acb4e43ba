"""Pushing changes to the tabs showing them: no page polls.

Each page, when it loads, says which topics it shows (``AppState._watch``): its case,
its refund, its customer's lists, or the agents' lists. That registration lives in
the process holding the tab's websocket (events of a tab are processed where its
socket is). One lifespan task per process listens on the bus's ``changes`` channel
(support_app.live.changes, published by services after commit, in-process or through
Redis pub/sub across processes) and, for every watching tab of this process, runs
the page state's ``_live_update(change)`` under the tab's own lock, exactly like an
event of that tab: Reflex sends the resulting delta to the browser.

Bursts are coalesced: a tab gets at most one update per ``MIN_INTERVAL`` (entity
pages), carrying everything that changed meanwhile; the lists, which any change can
change, are updated at most once per ``LIST_INTERVAL``, all of this process's list tabs
together, so they read the same lists at the same moment and one read serves them all
(live.shared_reads). Tabs whose socket has gone are forgotten. The tab
whose own command made a change gets no push for it (it read its page after the command).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import reflex as rx

from support_app.live.bus import get_bus
from support_app.live.changes import Change, parse
from support_app.live.channels import CHANGES
from support_app.live.shared_reads import SHARED, fresh_since

log = logging.getLogger(__name__)
MIN_INTERVAL = 0.2
LIST_INTERVAL = 1.0
LIST_TOPICS = frozenset({"cases", "refunds"})
MAX_CONCURRENT_PUSHES = 8


@dataclass
class _Watch:
    state: type
    topics: frozenset[str]


@dataclass
class _Pending:
    cases: set[int] = field(default_factory=set)
    refunds: set[int] = field(default_factory=set)
    customers: set[int] = field(default_factory=set)
    internal: bool = True  # stays True only if every merged change was internal
    generation: int = 0  # of shared reads (live.shared_reads) once the newest merged change was known

    def add(self, change: Change, generation: int) -> None:
        self.cases |= change.cases
        self.refunds |= change.refunds
        self.customers |= change.customers
        self.internal = self.internal and change.internal
        self.generation = max(self.generation, generation)

    def change(self) -> Change:
        return Change(frozenset(self.cases), frozenset(self.refunds), frozenset(self.customers), self.internal)


class Watchers:
    """Which tab of this process shows which topics (one registration per tab)."""

    def __init__(self) -> None:
        self._tabs: dict[str, _Watch] = {}
        self._by_topic: dict[str, set[str]] = {}

    def watch(self, tab: str, state: type, topics: Iterable[str]) -> None:
        self.drop(tab)
        watch = _Watch(state, frozenset(topics))
        self._tabs[tab] = watch
        for topic in watch.topics:
            self._by_topic.setdefault(topic, set()).add(tab)

    def drop(self, tab: str) -> None:
        watch = self._tabs.pop(tab, None)
        for topic in watch.topics if watch else ():
            tabs = self._by_topic.get(topic)
            if tabs is not None:
                tabs.discard(tab)
                if not tabs:
                    del self._by_topic[topic]

    def affected(self, topics: Iterable[str]) -> set[str]:
        found: set[str] = set()
        for topic in topics:
            found |= self._by_topic.get(topic, set())
        return found

    def get(self, tab: str) -> _Watch | None:
        return self._tabs.get(tab)

    def tabs(self) -> list[str]:
        return list(self._tabs)


WATCHERS = Watchers()


class Pusher:
    """Delivers bus changes to the watching tabs of this process."""

    def __init__(self, app: rx.App, clock: Callable[[], float] = time.monotonic) -> None:
        self.app = app
        self.clock = clock
        self.pending: dict[str, _Pending] = {}
        self.last_push: dict[str, float] = {}  # per entity-page tab
        self.last_list_push = 0.0  # all list tabs at once
        self.wake = asyncio.Event()
        self.running: set[asyncio.Task] = set()
        self.slots = asyncio.Semaphore(MAX_CONCURRENT_PUSHES)

    def receive(self, message: str) -> None:
        change = parse(message)
        if change is None:
            return
        SHARED.forget_all()  # a new generation: the pushes of this change read after it
        for tab in WATCHERS.affected(change.topics()) - {change.origin}:  # the origin has read it already
            self.pending.setdefault(tab, _Pending()).add(change, SHARED.generation)
        if self.pending:
            self.wake.set()

    async def run(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            delay = self.flush()
            if delay is not None:  # some tabs wait for their interval: come back then
                asyncio.get_running_loop().call_later(delay, self.wake.set)

    def flush(self) -> float | None:
        """Start the pushes that are due; return how long until the next one is."""
        now, soonest, lists_pushed = self.clock(), None, False
        for tab in list(self.pending):
            watch = WATCHERS.get(tab)
            if watch is None or not self._connected(tab):
                WATCHERS.drop(tab)
                self.pending.pop(tab, None)
                self.last_push.pop(tab, None)
                continue
            is_list = bool(watch.topics & LIST_TOPICS)
            wait = self.last_list_push + LIST_INTERVAL - now if is_list else self.last_push.get(tab, 0.0) + MIN_INTERVAL - now
            if wait > 0:
                soonest = wait if soonest is None else min(soonest, wait)
                continue
            pending = self.pending.pop(tab)
            if is_list:
                lists_pushed = True
            else:
                self.last_push[tab] = now
            task = asyncio.create_task(self._push(tab, watch.state, pending.change(), pending.generation))
            self.running.add(task)
            task.add_done_callback(self.running.discard)
        if lists_pushed:
            self.last_list_push = now
        return soonest

    def _connected(self, tab: str) -> bool:
        manager = self.app.event_namespace._token_manager  # noqa: SLF001 — Reflex has no public "is this tab here"
        record = manager.token_to_socket.get(tab)
        return record is not None and record.instance_id == manager.instance_id

    async def _push(self, tab: str, state: type, change: Change, generation: int) -> None:
        """The tab's page reads what changed again, under its lock; the shared lists (live.
        shared_reads) as read since these changes, by whichever tab pushed now read first."""
        async with self.slots:
            try:
                with fresh_since(generation):
                    async with self.app.modify_state(rx.BaseStateToken(ident=tab, cls=state)) as root:
                        page = await root.get_state(state)
                        await page._live_update(change)
            except Exception:  # noqa: BLE001 — one tab's failure must not stop the others' updates
                log.exception("live update of a tab failed")


async def live_updates() -> None:
    """Lifespan task: subscribe this process to changes and push them to its tabs."""
    from support_app.support_app import app  # the running app (it registers this task)

    pusher = Pusher(app)
    loop = asyncio.get_running_loop()
    unsubscribe = get_bus().subscribe(CHANGES, lambda message: loop.call_soon_threadsafe(pusher.receive, message))
    try:
        await pusher.run()
    finally:
        unsubscribe()
