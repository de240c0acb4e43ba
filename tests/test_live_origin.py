"""A tab's own command is not pushed back to it: the tab reads its page again right
after the command (AppState._command), so a push would repeat that read and its delta.
Every other tab showing the change still gets it (support_app.live.push)."""

from __future__ import annotations

import asyncio
import json

import pytest

from support_app import db
from support_app.live import push
from support_app.live.changes import MAX_ORIGIN_CHARS, changed, made_by, parse
from support_app.services import runner

TAB_A, TAB_B = "0f1e2d3c-0000-4000-8000-00000000000a", "0f1e2d3c-0000-4000-8000-00000000000b"


@runner.writes
def touch_case(session, case_id: int) -> None:
    changed(session, case=case_id, customer=1)


def test_a_change_made_in_a_tabs_command_names_that_tab_also_from_the_service_thread(engine, monkeypatch, published):
    monkeypatch.setattr(db, "get_engine", lambda: engine)

    async def commands() -> None:
        with made_by(TAB_A):
            await runner.call(touch_case, 7)  # runs in the service pool: the origin goes along
        await runner.call(touch_case, 8)  # after the block: no origin

    asyncio.run(commands())
    assert [(sorted(c.cases), c.origin) for c in published] == [([7], TAB_A), ([8], "")]


@pytest.fixture
def watchers(monkeypatch) -> push.Watchers:
    fresh = push.Watchers()
    monkeypatch.setattr(push, "WATCHERS", fresh)
    return fresh


def _message(origin: object = None) -> str:
    return json.dumps({"c": [7], "r": [], "u": [], "i": False, **({"o": origin} if origin is not None else {})})


def test_the_pusher_skips_the_tab_the_change_came_from_and_no_other(watchers):
    for tab in (TAB_A, TAB_B):
        watchers.watch(tab, object, ["case:7"])
    pusher = push.Pusher(app=None)
    pusher.receive(_message(TAB_A))
    assert set(pusher.pending) == {TAB_B}
    pusher.receive(_message())  # a change from a worker or another request: everyone
    assert set(pusher.pending) == {TAB_A, TAB_B}


@pytest.mark.parametrize("origin", [7, ["x"], "x" * (MAX_ORIGIN_CHARS + 1)])
def test_a_message_with_a_malformed_origin_is_dropped_like_any_malformed_message(origin):
    assert parse(_message(origin)) is None
    assert parse(_message("")).origin == ""


def test_list_tabs_are_updated_together_at_most_once_a_second_entity_tabs_each_on_its_own(watchers, monkeypatch):
    """All of a process's list tabs read at the same moment, so one read of each list
    serves them all (live.shared_reads); a case page is not held back by them."""
    clock = [1000.0]  # the pusher's own clock: patching time.monotonic would stall every event loop of the process
    list_a, list_b, page = TAB_A, TAB_B, "0f1e2d3c-0000-4000-8000-00000000000c"
    watchers.watch(list_a, object, ["cases", "refunds"])
    watchers.watch(list_b, object, ["cases"])
    watchers.watch(page, object, ["case:7"])
    pushed: list[str] = []

    async def run() -> list:
        pusher = push.Pusher(app=None, clock=lambda: clock[0])
        monkeypatch.setattr(pusher, "_connected", lambda tab: True)

        async def record(tab, state, change, generation):
            pushed.append(tab)
        monkeypatch.setattr(pusher, "_push", record)
        waits = []
        for step in (0.0, 0.3, 0.8, 0.95):  # a change at each of these times; flush right after
            clock[0] = 1000.0 + step
            pusher.receive(_message())
            waits.append(pusher.flush())
            await asyncio.sleep(0)  # let the started pushes run
            pushed.append("|")
        clock[0] = 1001.0  # no new change: what waited is due
        waits.append(pusher.flush())
        await asyncio.sleep(0)
        return waits

    waits = asyncio.run(run())
    # At 0.0 everyone at once; the case page again at 0.3 and 0.8 (0.2 s apart at least), not
    # at 0.95; the lists wait until 1.0 and then go together, with the page.
    flushes = "".join("L" if t in (list_a, list_b) else "P" if t == page else t for t in pushed).split("|")
    assert ["".join(sorted(f)) for f in flushes] == ["LLP", "P", "P", "", "LLP"]
    assert waits[1] == pytest.approx(0.7) and waits[3] == pytest.approx(0.05) and waits[4] is None
