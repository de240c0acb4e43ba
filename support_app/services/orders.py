"""A customer's orders, read from the order system, and the snapshot a case keeps.

The snapshot's lines and amounts are fixed when it is taken; its delivery facts
(delivered_at, status) are refreshed from the order system whenever they decide
something (domain/delivery): services/order_refresh.
"""

from __future__ import annotations

from sqlalchemy import bindparam, update
from sqlmodel import Session, select

from support_app.db import next_transaction
from support_app.domain.case_rules import Role
from support_app.domain.delivery import refreshed_delivery
from support_app.domain.errors import DomainError, ErrorCode
from support_app.domain.money import format_money
from support_app.integrations.order_client import OrderClient, get_order_client
from support_app.integrations.order_data import OrderData, OrderLineData
from support_app.live.changes import changed
from support_app.models import OrderLine, OrderSnapshot, SupportCase, User
from support_app.models.base import utcnow
from support_app.services.views import Caller, OrderLineView, OrderView, iso


# The fields an order line has in the order system and in our snapshot alike.
LINE_FIELDS = ("line_id", "sku", "name", "quantity", "unit_price", "discount_total", "tax_total")


def order_view(order: OrderData) -> OrderView:
    return OrderView(
        order_id=order.order_id,
        status=order.status,
        placed_at=iso(order.placed_at),
        delivered_at=iso(order.delivered_at),
        currency=order.currency,
        total=format_money(order.amount_paid, order.currency),
        item_count=sum(line.quantity for line in order.lines),
        lines=[
            OrderLineView(
                line_id=line.line_id,
                sku=line.sku,
                name=line.name,
                quantity=line.quantity,
                unit_price=format_money(line.unit_price, order.currency),
                line_total=format_money(
                    line.quantity * line.unit_price - line.discount_total + line.tax_total, order.currency
                ),
            )
            for line in order.lines
        ],
    )


def snapshot_view(snap: OrderSnapshot, lines: list[OrderLine]) -> OrderView:
    return order_view(to_order_data(snap, lines, customer_ref=""))


def to_order_data(snap: OrderSnapshot, lines: list[OrderLine], customer_ref: str) -> OrderData:
    return OrderData(
        order_id=snap.order_id,
        customer_id=customer_ref,
        placed_at=snap.placed_at,
        delivered_at=snap.delivered_at,
        status=snap.status or ("delivered" if snap.delivered_at else "shipped"),
        currency=snap.currency,
        lines=tuple(
            OrderLineData(**{f: getattr(ln, f) for f in LINE_FIELDS})
            for ln in lines
        ),
        shipping_amount=snap.shipping_amount,
        shipping_tax=snap.shipping_tax,
        amount_paid=snap.amount_paid,
        payment_reference=snap.payment_reference,
    )


def _customer(session: Session, caller: Caller) -> User:
    if caller.role != Role.CUSTOMER:
        raise DomainError(ErrorCode.FORBIDDEN)
    user = session.get(User, caller.id)
    if user is None or not user.is_active or not user.order_customer_id:
        raise DomainError(ErrorCode.FORBIDDEN)
    return user


def list_my_orders(session: Session, caller: Caller, client: OrderClient | None = None) -> list[OrderView]:
    user = _customer(session, caller)
    orders = (client or get_order_client()).list_customer_orders(user.order_customer_id)
    return [order_view(o) for o in orders]


def fetch_order(order_id: str, client: OrderClient | None = None, *, fresh: bool = False) -> OrderData | None:
    """Look an order up in the order system (``fresh``: not from the cache). Touches no
    database, so callers do it before their transaction starts and never hold a write
    lock across HTTP."""
    order_id = (order_id or "").strip()
    if not order_id or len(order_id) > 64:
        return None
    return (client or get_order_client()).get_order(order_id, fresh=fresh)


def check_owned(session: Session, caller: Caller, order: OrderData | None) -> User:
    """The caller, if the order exists and is theirs; the same error otherwise so that
    order ids of other customers cannot be probed."""
    user = _customer(session, caller)
    if order is None or order.customer_id != user.order_customer_id:
        raise DomainError(ErrorCode.NOT_ORDER_OWNER, fields={"order_id": "Choose one of your orders."})
    return user


def upsert_snapshot(session: Session, customer_id: int, order: OrderData) -> OrderSnapshot:
    """Keep one snapshot per order. Lines are fixed once taken; the delivery facts are
    refreshed because an order may be delivered after its first case was opened."""
    snap = session.exec(select(OrderSnapshot).where(OrderSnapshot.order_id == order.order_id)).first()
    if snap is not None:
        if snap.customer_id != customer_id:
            raise DomainError(ErrorCode.NOT_ORDER_OWNER)
        store_delivery(session, snap.id, snap.customer_id, snap.delivered_at, snap.status, order)
        return snap
    snap = OrderSnapshot(
        order_id=order.order_id,
        customer_id=customer_id,
        currency=order.currency,
        placed_at=order.placed_at,
        delivered_at=order.delivered_at,
        status=order.status,
        shipping_amount=order.shipping_amount,
        shipping_tax=order.shipping_tax,
        amount_paid=order.amount_paid,
        payment_reference=order.payment_reference,
    )
    session.add(snap)
    session.flush()
    for line in order.lines:
        session.add(OrderLine(snapshot_id=snap.id, **{f: getattr(line, f) for f in LINE_FIELDS}))
    session.flush()
    return snap


def store_delivery(session: Session, snapshot_id: int, customer_id: int, delivered_at, status: str | None,
                    order: OrderData) -> None:
    """Write the refreshed delivery facts if they changed, and tell the pages of the
    order's cases. A blind UPDATE, so that after a refresh it is the transaction's first
    statement (no read to go stale); one carrying no delivery never touches a snapshot
    that has one, whoever recorded it meanwhile. Called with no transaction open (after
    a refresh's commit), it opens a write transaction, as the refund form only reads."""
    new = refreshed_delivery(delivered_at, status, order.delivered_at, order.status)
    if new is None:
        return
    next_transaction(session, write=True)  # a refresh's own transaction, also from a read unit of work
    stmt = update(OrderSnapshot).where(OrderSnapshot.id == snapshot_id)
    if new[0] is None:
        stmt = stmt.where(OrderSnapshot.delivered_at.is_(None))  # type: ignore[union-attr]
    written = session.execute(stmt.values(delivered_at=new[0], status=new[1], fetched_at=utcnow())
                              .execution_options(synchronize_session=False)).rowcount
    session.expire_all()  # whatever this session loaded before reads the new facts
    if written:
        for case_id in session.exec(select(SupportCase.id).where(SupportCase.order_snapshot_id == snapshot_id)):
            changed(session, case=case_id, customer=customer_id)


_LINES = select(OrderLine).where(OrderLine.snapshot_id == bindparam("snapshot_id")).order_by(OrderLine.id)  # built once


def snapshot_lines(session: Session, snapshot_id: int) -> list[OrderLine]:
    return list(session.exec(_LINES, params={"snapshot_id": snapshot_id}))


def get_my_order(session: Session, caller: Caller, order_id: str, client: OrderClient | None = None) -> OrderView:
    order = fetch_order(order_id, client)
    check_owned(session, caller, order)
    assert order is not None
    return order_view(order)
