"""The app's clock (models.base.utcnow) and its per-context override (frozen_time),
which the demo history uses to run each service call at its historical moment."""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from fixtures_db import order_client, orders_server, orders_server_session, people, run  # noqa: F401
from support_app.db import session_scope
from support_app.models import CaseEvent, SupportCase
from support_app.models.base import frozen_time, utcnow
from support_app.services import case_commands
from support_app.services.runner import call

MOMENT = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=timezone.utc)


def _is_real_now(value: datetime) -> bool:
    return value.tzinfo is timezone.utc and abs(datetime.now(timezone.utc) - value) < timedelta(seconds=5)


def test_utcnow_is_aware_utc_and_real_outside_any_override():
    assert _is_real_now(utcnow())


def test_frozen_time_holds_the_moment_in_utc_and_restores_after():
    berlin = MOMENT.astimezone(ZoneInfo("Europe/Berlin"))  # 13:30 local: the same instant
    with frozen_time(berlin) as held:
        assert held == utcnow() == MOMENT
        assert utcnow().tzinfo is timezone.utc and utcnow().utcoffset() == timedelta(0)
        assert utcnow() == utcnow()  # frozen: it does not move
    assert _is_real_now(utcnow())


def test_nested_overrides_unwind_in_order_even_on_error():
    later = MOMENT + timedelta(days=3)
    with frozen_time(MOMENT):
        with pytest.raises(RuntimeError):
            with frozen_time(later):
                assert utcnow() == later
                raise RuntimeError("boom")
        assert utcnow() == MOMENT
    assert _is_real_now(utcnow())


@pytest.mark.parametrize("bad", [datetime(2026, 3, 1, 12), "2026-03-01T12:00:00Z", None])
def test_only_aware_datetimes_are_accepted(bad):
    with pytest.raises(ValueError):
        with frozen_time(bad):  # type: ignore[arg-type]
            pass
    assert _is_real_now(utcnow())


def test_the_override_does_not_leak_into_other_threads():
    seen: dict[str, datetime] = {}
    inside = threading.Event()
    done = threading.Event()

    def other() -> None:  # started before the override, reads while it is active
        inside.wait(5)
        seen["other"] = utcnow()
        done.set()

    thread = threading.Thread(target=other)
    thread.start()
    with frozen_time(MOMENT):
        started_inside = threading.Thread(target=lambda: seen.__setitem__("started_inside", utcnow()))
        started_inside.start()
        started_inside.join(5)
        inside.set()
        done.wait(5)
        assert utcnow() == MOMENT
    thread.join(5)
    assert _is_real_now(seen["other"]) and _is_real_now(seen["started_inside"])


def test_each_asyncio_task_has_its_own_clock():
    async def at(moment: datetime | None, ready: asyncio.Barrier) -> tuple[datetime, datetime]:
        if moment is None:
            await ready.wait()
            return utcnow(), utcnow()
        with frozen_time(moment):
            before = utcnow()
            await ready.wait()  # every task is inside its block (or none) at the same time
            return before, utcnow()

    async def main():
        ready = asyncio.Barrier(3)
        results = await asyncio.gather(at(MOMENT, ready), at(MOMENT + timedelta(hours=1), ready), at(None, ready))
        return results, utcnow()

    (first, second, free), after = asyncio.run(main())
    assert first == (MOMENT, MOMENT)
    assert second == (MOMENT + timedelta(hours=1),) * 2
    assert _is_real_now(free[0]) and _is_real_now(free[1]) and _is_real_now(after)


def test_service_calls_through_the_runner_pool_see_the_callers_moment():
    """``runner.call`` runs services in a copy of the caller's context: the override goes along."""

    async def main():
        with frozen_time(MOMENT):
            inside = await call(lambda session: utcnow())
        return inside, await call(lambda session: utcnow())

    inside, outside = asyncio.run(main())
    assert inside == MOMENT and _is_real_now(outside)


def test_a_service_writes_the_frozen_moment(engine, people, order_client):
    moment = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=3, hours=2)
    with frozen_time(moment):
        case_id = run(engine, case_commands.create_case, people.alice, "ORD-1001-1", "Cracked mug",
                      "The blue mug arrived cracked in two.", "damaged_item", client=order_client)
    with frozen_time(moment + timedelta(hours=5)):
        run(engine, case_commands.add_message, people.sam, case_id, "Sorry about that, a new one is on its way.")
    run(engine, case_commands.change_status, people.sam, case_id, "in_progress")
    with session_scope(engine) as s:
        case = s.get(SupportCase, case_id)
        events = [(e.kind, e.created_at) for e in s.exec(select(CaseEvent).order_by(CaseEvent.id))]
    assert case.created_at == moment and case.first_response_at == moment + timedelta(hours=5)
    assert _is_real_now(case.updated_at)  # the last change ran on the real clock
    assert [kind for kind, _ in events] == ["created", "reply", "status_changed"]
    assert events[0][1] == moment and events[1][1] == moment + timedelta(hours=5) and _is_real_now(events[2][1])
