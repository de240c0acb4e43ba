"""Refreshing the delivery facts of a case's order before they decide something.

A case keeps a snapshot of its order; an order shipped when the case was opened is
delivered later, and only then can its items be refunded through the gateway. The
refund form and a refund request therefore ask the order system again first
(domain/delivery says what may change: delivered_at and status, never lines or amounts).
"""

from __future__ import annotations

import logging

from sqlmodel import Session

from support_app.db import next_transaction
from support_app.domain.errors import DomainError, ErrorCode
from support_app.integrations.order_client import OrderClient
from support_app.models import OrderSnapshot, User
from support_app.services.case_queries import load_case_for
from support_app.services.orders import fetch_order, store_delivery
from support_app.services.views import Caller

log = logging.getLogger(__name__)


def refresh_order_facts(session: Session, caller: Caller, case_id: object, client: OrderClient | None = None) -> bool:
    """Bring the delivery facts of a case's order snapshot up to date with the order
    system (delivered_at and status; never the lines or amounts). True when the snapshot
    now holds what the order system says; False when it could not be asked or no longer
    reports the order for its customer (the snapshot's facts stand, and are logged).

    Call it first thing in a unit of work. The order system is asked over HTTP with no
    transaction open: the case and its order id are read, that read is ended (a commit:
    nothing was written), the order system answers, and only a change is written — in
    the caller's next transaction, which for a refund request is the write transaction
    that then judges it under the order's lock. Errors about the case itself
    (CASE_NOT_FOUND, NOT_CASE_OWNER) are the caller's own.
    """
    next_transaction(session, write=False)  # the lookup only reads: no write lock for it, no BEGIN on PostgreSQL
    case = load_case_for(session, caller, case_id)
    snap = session.get(OrderSnapshot, case.order_snapshot_id)
    assert snap is not None  # guaranteed by the foreign key
    owner = session.get(User, snap.customer_id)
    facts = (snap.id, snap.order_id, snap.customer_id, snap.delivered_at, snap.status)
    owner_ref = owner.order_customer_id if owner else None
    session.commit()  # end the read: no transaction is open while the order system answers
    try:
        order = fetch_order(facts[1], client, fresh=True)
    except DomainError as err:
        if err.code is not ErrorCode.ORDER_SYSTEM_UNAVAILABLE:
            raise
        log.warning("order %s: delivery facts not refreshed, the order system is unavailable", facts[1])
        return False
    if order is None or order.customer_id != owner_ref:
        log.warning("order %s: the order system no longer reports it for its customer; delivery facts kept", facts[1])
        return False
    store_delivery(session, facts[0], facts[2], facts[3], facts[4], order)
    return True
