"""Reads shared by every agent's tab until the next change (support_app.live.shared_reads):
kept per database and key, forgotten when a change commits here or arrives from another
process, never older than MAX_AGE, and a read that raced a change is not kept."""

from __future__ import annotations

import json

from sqlalchemy import text
from sqlmodel import Session

from support_app.db import make_engine, session_scope
from support_app.live import push
from support_app.live.shared_reads import SHARED, SharedReads, forget_after_commit, fresh_since


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


def counting(value):
    calls = []

    def read():
        calls.append(1)
        return value
    return read, calls


def test_a_value_is_kept_per_key_until_forgotten_or_too_old(engine):
    clock = Clock()
    reads = SharedReads(max_age=1.0, clock=clock)
    read, calls = counting(["rows"])
    with Session(engine) as s:
        assert reads.get(s, "queue", read) == ["rows"] and reads.get(s, "queue", read) == ["rows"]
        assert len(calls) == 1
        reads.get(s, "other filters", read)
        assert len(calls) == 2  # another key is another read
        clock.now += 0.999
        reads.get(s, "queue", read)
        assert len(calls) == 2  # just under MAX_AGE: still kept
        clock.now += 0.001
        reads.get(s, "queue", read)
        assert len(calls) == 3  # MAX_AGE old: read again (what depends on the clock, a lost message)
        reads.forget_all()
        reads.get(s, "queue", read)
        assert len(calls) == 4


def test_two_databases_never_share_an_entry(engine, tmp_path):
    other = make_engine(f"sqlite:///{tmp_path / 'other.db'}")
    reads = SharedReads()
    with Session(engine) as a, Session(other) as b:
        assert reads.get(a, "queue", lambda: "a") == "a"
        assert reads.get(b, "queue", lambda: "b") == "b"
        assert reads.get(a, "queue", lambda: "?") == "a"
    other.dispose()


def test_a_read_that_raced_a_change_is_returned_but_not_kept(engine):
    reads = SharedReads()
    with Session(engine) as s:
        def read_while_a_change_commits():
            reads.forget_all()  # a commit lands while this read is under way
            return "old"
        assert reads.get(s, "queue", read_while_a_change_commits) == "old"
        assert reads.get(s, "queue", lambda: "new") == "new"


def test_a_change_forgets_when_its_transaction_commits_not_before_and_not_on_rollback(engine):
    with Session(engine) as s:
        SHARED.get(s, "queue", lambda: "before")
    with session_scope(engine, write=True) as s:
        s.execute(text("select 1"))  # the transaction has begun, as in a service that wrote
        forget_after_commit(s)
        assert SHARED.get(s, "queue", lambda: "during") == "before"  # not committed: others still read the old
    with Session(engine) as s:
        assert SHARED.get(s, "queue", lambda: "after") == "after"
    try:
        with session_scope(engine, write=True) as s:
            s.execute(text("select 1"))
            forget_after_commit(s)
            raise RuntimeError("rolled back")
    except RuntimeError:
        pass
    with Session(engine) as s:
        assert SHARED.get(s, "queue", lambda: "again") == "after"  # nothing changed: still kept


def test_a_change_from_another_process_forgets_before_the_pushes(engine, monkeypatch):
    monkeypatch.setattr(push, "WATCHERS", push.Watchers())
    with Session(engine) as s:
        SHARED.get(s, "queue", lambda: "before")
        push.Pusher(app=None).receive(json.dumps({"c": [7], "r": [], "u": [], "i": False}))
        assert SHARED.get(s, "queue", lambda: "after") == "after"
        push.Pusher(app=None).receive("not a change")  # malformed: dropped, nothing forgotten
        assert SHARED.get(s, "queue", lambda: "?") == "after"


def test_callers_asking_while_the_same_read_is_under_way_wait_for_it(engine):
    """The tabs a change pushes to all read at once: one reads, the others take its value;
    a caller asking after a change does not take a read that began before it."""
    import threading

    reads = SharedReads()
    started, release = threading.Event(), threading.Event()
    results: dict[str, object] = {}

    def slow_read():
        started.set()
        release.wait(5)
        return "first"

    def leader():
        with Session(engine) as s:
            results["leader"] = reads.get(s, "queue", slow_read)

    def follower():
        with Session(engine) as s:
            results["follower"] = reads.get(s, "queue", lambda: "a read of its own")

    t1 = threading.Thread(target=leader)
    t1.start()
    assert started.wait(5)
    t2 = threading.Thread(target=follower)
    t2.start()
    t2.join(0.2)
    assert t2.is_alive()  # waiting for the read under way
    release.set()
    t1.join(5)
    t2.join(5)
    assert results == {"leader": "first", "follower": "first"}

    # A change while a read is under way: a caller after it reads for itself.
    started.clear(), release.clear()
    reads.forget_all()
    t1 = threading.Thread(target=leader)
    t1.start()
    assert started.wait(5)
    reads.forget_all()
    with Session(engine) as s:
        assert reads.get(s, "queue", lambda: "after the change") == "after the change"
    release.set()
    t1.join(5)


def test_when_the_read_under_way_fails_the_callers_waiting_read_alone(engine):
    import threading

    reads = SharedReads()
    started, release = threading.Event(), threading.Event()

    def failing_read():
        started.set()
        release.wait(5)
        raise RuntimeError("database went away")

    def leader():
        with Session(engine) as s:
            try:
                reads.get(s, "queue", failing_read)
            except RuntimeError:
                pass

    t1 = threading.Thread(target=leader)
    t1.start()
    assert started.wait(5)
    threading.Timer(0.1, release.set).start()
    with Session(engine) as s:
        assert reads.get(s, "queue", lambda: "its own") == "its own"
    t1.join(5)


def test_a_push_may_use_a_read_made_since_its_changes_a_tabs_own_read_only_the_newest(engine):
    reads = SharedReads()
    with Session(engine) as s:
        first = reads.generation
        reads.get(s, "queue", lambda: "read after the first change")
        reads.forget_all()  # a second change
        with fresh_since(first):  # the push of the first change: that read shows it
            assert reads.get(s, "queue", lambda: "?") == "read after the first change"
        with fresh_since(reads.generation):  # the push of the second: read again
            assert reads.get(s, "queue", lambda: "read after the second") == "read after the second"
        assert reads.get(s, "queue", lambda: "?") == "read after the second"  # a tab's own read: the newest
        reads.forget_all()
        assert reads.get(s, "queue", lambda: "after a third") == "after a third"


def test_the_freshness_a_push_asks_for_reaches_the_service_thread(engine, monkeypatch):
    import asyncio

    from support_app import db
    from support_app.live import shared_reads
    from support_app.services import runner

    monkeypatch.setattr(db, "get_engine", lambda: engine)

    async def push() -> object:
        with fresh_since(41):
            return await runner.call(lambda session: shared_reads._FRESH_SINCE.get())

    assert asyncio.run(push()) == 41


def test_the_pusher_asks_for_reads_made_since_the_newest_change_it_carries(monkeypatch):
    watchers = push.Watchers()
    monkeypatch.setattr(push, "WATCHERS", watchers)
    watchers.watch("tab", object, ["cases"])
    pusher = push.Pusher(app=None)
    pusher.receive(json.dumps({"c": [7], "r": [], "u": [], "i": False}))
    first = SHARED.generation
    pusher.receive(json.dumps({"c": [8], "r": [], "u": [], "i": False}))
    assert pusher.pending["tab"].generation == SHARED.generation == first + 1
