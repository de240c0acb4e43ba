"""Refreshing an order's delivery facts from the order system. Pure, no I/O.

A case keeps a snapshot of its order. The lines and amounts are fixed once taken (a
refund is priced on what the customer paid), but delivery goes on after a case is
opened: a shipped order is delivered later, and only a delivered order can be refunded
through the gateway. So the delivery date and the order's status are taken again from
the order system when they matter — when the refund form loads and when a request is
judged. A delivery, once recorded, is never undone by a refresh: an order system that
stops reporting it (a glitch, a data fix) does not take the refund window away from the
customer. A corrected delivery date is taken as reported.
"""

from __future__ import annotations

from datetime import datetime

DELIVERED = "delivered"


def refreshed_delivery(delivered_at: datetime | None, status: str | None, reported_delivered_at: datetime | None,
                       reported_status: str) -> tuple[datetime | None, str] | None:
    """The snapshot's new (delivered_at, status), or None when nothing changes.

    shipped, no date  + reported delivered 2026-10-22 → (2026-10-22, "delivered")
    delivered 10-22   + reported shipped, no date    → None (a delivery is never undone)
    processing        + reported shipped             → (None, "shipped")
    """
    if reported_delivered_at is not None:
        new = (reported_delivered_at, DELIVERED)
    elif delivered_at is not None:
        new = (delivered_at, DELIVERED)
    else:
        new = (None, reported_status)
    return None if new == (delivered_at, status) else new
