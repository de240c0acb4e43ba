"""Column helpers shared by the tables: aware-UTC timestamps on every backend, and
the one clock every service reads (``utcnow``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timezone

from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator

# Set only inside ``frozen_time``: the moment this context's clock reads.
_frozen: ContextVar[datetime | None] = ContextVar("support_app_frozen_time", default=None)


def utcnow() -> datetime:
    """Now, aware UTC — or the moment ``frozen_time`` holds in this context."""
    frozen = _frozen.get()
    return datetime.now(timezone.utc) if frozen is None else frozen


@contextmanager
def frozen_time(moment: datetime) -> Iterator[datetime]:
    """Inside the block, ``utcnow()`` of this context returns ``moment`` (in UTC).

    The demo history runs each service call at its historical moment this way. The
    override is a context variable: other threads and asyncio tasks keep the real
    clock (a thread started inside sees it only if it runs in a copy of this context,
    as ``services.runner.call`` does), and the previous value is back after the block.
    """
    if not isinstance(moment, datetime) or moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("frozen_time needs a timezone-aware datetime")
    moment = moment.astimezone(timezone.utc)
    token = _frozen.set(moment)
    try:
        yield moment
    finally:
        _frozen.reset(token)


class UTCDateTime(TypeDecorator):
    """Stores aware UTC datetimes; SQLite loses the zone, so it is put back on read."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)
