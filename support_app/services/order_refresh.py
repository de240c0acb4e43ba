"""Refreshing the delivery facts of a case's order before they decide something.

A case keeps a snapshot of its order; an order shipped when the case was opened is
delivered later, and only then can its items be refunded through the gateway. The
refund form and a refund request therefore ask the order system again first
(domain/delivery says what may change: delivered_at and status, never lines or amounts).
"""

from __future__ import annotations

import logging

from sqlalchemy import bindparam
from sqlmodel import Session, select

from support_app.db import next_transaction
from support_app.domain.errors import DomainError, ErrorCode
from support_app.integrations.order_client import OrderClient
from support_app.models import OrderSnapshot, SupportCase, User
from support_app.services.case_queries import visible_row
from support_app.services.orders import fetch_order, store_delivery
from support_app.services.views import Caller

log = logging.getLogger(__name__)

_FACTS = (  # who may see the case, its order's delivery facts and its owner's id in the order system: one statement
    select(SupportCase.customer_id, OrderSnapshot.id, OrderSnapshot.order_id, OrderSnapshot.customer_id.label("owner_id"),
           OrderSnapshot.delivered_at, OrderSnapshot.status, User.order_customer_id)
    .join(OrderSnapshot, OrderSnapshot.id == SupportCase.order_snapshot_id)
    .outerjoin(User, User.id == OrderSnapshot.customer_id)
    .where(SupportCase.id == bindparam("case_id"))
)


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
    _, snap_id, order_id, owner_id, delivered_at, status, owner_ref = visible_row(session, caller, case_id, _FACTS)
    session.commit()  # end the read: no transaction is open while the order system answers
    try:
        order = fetch_order(order_id, client, fresh=True)
    except DomainError as err:
        if err.code is not ErrorCode.ORDER_SYSTEM_UNAVAILABLE:
            raise
        log.warning("order %s: delivery facts not refreshed, the order system is unavailable", order_id)
        return False
    if order is None or order.customer_id != owner_ref:
        log.warning("order %s: the order system no longer reports it for its customer; delivery facts kept", order_id)
        return False
    store_delivery(session, snap_id, owner_id, delivered_at, status, order)
    return True
