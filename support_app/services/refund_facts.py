"""Turning stored rows into the pure domain's inputs (and amounts into text)."""

from __future__ import annotations

from sqlalchemy import bindparam
from sqlmodel import Session, select

from support_app.domain.money import format_money
from support_app.domain.refund_amounts import ExistingRefund, LineFacts, OrderFacts
from support_app.domain.refund_rules import STATUS_LABELS, RefundStatus
from support_app.models import OrderLine, OrderSnapshot, RefundCase, RefundItem
from support_app.services.views import RefundRow, iso

# Built once (see case_queries): these run on every case and refund page.
_ORDER_REFUNDS = (  # the columns the amounts need, one row per item: no notes to decrypt, no ORM objects
    select(RefundCase.id, RefundCase.status, RefundCase.abandoned, RefundCase.shipping_amount, RefundCase.amount,
           RefundCase.settled_amount, OrderLine.line_id, RefundItem.quantity, RefundItem.amount)
    .outerjoin(RefundItem, RefundItem.refund_case_id == RefundCase.id)
    .outerjoin(OrderLine, OrderLine.id == RefundItem.order_line_id)
    .where(RefundCase.order_snapshot_id == bindparam("snapshot_id"))  # type: ignore[arg-type]
    .order_by(RefundCase.id, RefundItem.id)
)
_CASE_REFUNDS = (select(RefundCase).where(RefundCase.support_case_id == bindparam("case_id"))
                 .order_by(RefundCase.id.desc()))  # type: ignore[union-attr]


def order_facts(snap: OrderSnapshot, lines: list[OrderLine]) -> OrderFacts:
    return OrderFacts(
        currency=snap.currency,
        delivered_at=snap.delivered_at,
        lines=tuple(
            LineFacts(ln.line_id, ln.name, ln.quantity, ln.unit_price, ln.discount_total, ln.tax_total) for ln in lines
        ),
        shipping_amount=snap.shipping_amount,
        shipping_tax=snap.shipping_tax,
        amount_paid=snap.amount_paid,
    )


def existing_refunds(session: Session, snapshot_id: int) -> list[ExistingRefund]:
    """Every refund on the order, with the amounts each line recorded and the money
    each took from the payment (refund_amounts.payment_left)."""
    heads: dict[int, tuple] = {}
    items: dict[int, list[tuple[str, int, int]]] = {}
    for rid, status, abandoned, shipping, amount, settled, line_id, qty, item_amount in session.exec(
            _ORDER_REFUNDS, params={"snapshot_id": snapshot_id}):
        heads.setdefault(rid, (status, abandoned, shipping, amount, settled))
        if line_id is not None:  # the outer join gives a refund without items one row of NULLs
            items.setdefault(rid, []).append((line_id, qty, item_amount))
    return [
        ExistingRefund(status, abandoned, tuple(items.get(rid, ())), shipping, amount, settled, rid)
        for rid, (status, abandoned, shipping, amount, settled) in heads.items()
    ]


def refund_rows(session: Session, support_case_id: int) -> list[RefundRow]:
    """The refunds of one support case, newest first."""
    refunds = session.exec(_CASE_REFUNDS, params={"case_id": support_case_id})
    return [refund_row(r) for r in refunds]


def refund_row(r: RefundCase) -> RefundRow:
    return RefundRow(r.id, r.number or "", r.status, STATUS_LABELS[RefundStatus(r.status)],
                     format_money(r.amount, r.currency), iso(r.requested_at))
