"""Reading refunds: the request form, one refund case, the refunds of a case."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam
from sqlmodel import Session, select

from support_app.domain.case_rules import Role
from support_app.domain.errors import DomainError, ErrorCode
from support_app.domain.money import format_money
from support_app.domain.refund_rules import (
    REASON_LABELS,
    REQUEST_REASON_LABELS,
    STATUS_LABELS,
    Blocked,
    RefundReason,
    RefundStatus,
    allowed_refund_transitions,
    offered_reasons,
    request_blocked,
    window_verdict,
)
from support_app.domain.gateway_answers import answer_mismatch
from support_app.domain.refund_amounts import ExistingRefund, OrderFacts, build_refund, payment_left, preview
from support_app.domain.refund_decisions import (
    REJECT_LABELS, SETTLEMENT_LABELS, RejectReason, SettlementType, settlement_hint,
)
from support_app.integrations.order_client import OrderClient
from support_app.models import OrderLine, OrderSnapshot, RefundAttempt, RefundCase, RefundEvent, RefundItem, SupportCase, User
from support_app.models.base import utcnow
from support_app.security.inputs import record_id
from support_app.services.case_queries import case_head, load_case_for
from support_app.services.order_refresh import refresh_order_facts
from support_app.services.orders import snapshot_lines
from support_app.services.refund_facts import existing_refunds, order_facts, refund_row, refund_rows
from support_app.services.views import (
    AttemptView,
    Caller,
    EventView,
    Option,
    RefundDetail,
    RefundForm,
    RefundItemView,
    RefundLineOption,
    RefundQuote,
    RefundRow,
    iso,
)
from support_app.settings import get_settings

R = RefundStatus

# The refund page's reads, built once (see case_queries).
_REFUND = select(RefundCase).where(RefundCase.id == bindparam("refund_id"))
# A locked read is a fresh one, whatever this session loaded before.
_REFUND_LOCKED = _REFUND.with_for_update().execution_options(populate_existing=True)
# The refund page's head in one statement: the refund, its case's number, its order, its customer's name.
_REFUND_PAGE = (
    select(RefundCase, SupportCase.number, OrderSnapshot, User.full_name)
    .join(SupportCase, SupportCase.id == RefundCase.support_case_id)
    .join(OrderSnapshot, OrderSnapshot.id == RefundCase.order_snapshot_id)
    .join(User, User.id == RefundCase.customer_id)
    .where(RefundCase.id == bindparam("refund_id"))
)
_ITEMS = (
    select(RefundItem, OrderLine.name)
    .join(OrderLine, OrderLine.id == RefundItem.order_line_id)
    .where(RefundItem.refund_case_id == bindparam("refund_id"))
    .order_by(RefundItem.id)
)
_HISTORY = (
    select(RefundEvent, User.full_name)
    .outerjoin(User, User.id == RefundEvent.actor_id)
    .where(RefundEvent.refund_case_id == bindparam("refund_id"))
    .order_by(RefundEvent.created_at, RefundEvent.id)
)
_EARLIER = (
    select(RefundCase)
    .where(RefundCase.customer_id == bindparam("customer_id"), RefundCase.id != bindparam("refund_id"))
    .order_by(RefundCase.id.desc())  # type: ignore[union-attr]
    .limit(20)
)
_ATTEMPTS = select(RefundAttempt).where(RefundAttempt.refund_case_id == bindparam("refund_id")).order_by(RefundAttempt.id)
_CASE_REFUNDS_WITH_ATTEMPTS = (
    select(RefundCase, RefundAttempt)
    .outerjoin(RefundAttempt, RefundAttempt.refund_case_id == RefundCase.id)
    .where(RefundCase.support_case_id == bindparam("case_id"))
    .order_by(RefundCase.id.desc(), RefundAttempt.id)  # type: ignore[union-attr]
)


@dataclass(frozen=True)
class RefundPricing:
    """What a refund form prices its choices from (``quote``): the order's facts and
    refunds as the form read them. The form's total is a preview; the request itself
    is checked again, under the order's lock, against the facts of that moment."""

    facts: OrderFacts
    existing: tuple[ExistingRefund, ...]
    for_settlement: bool


def refund_form(session: Session, caller: Caller, case_id: object, for_settlement: bool = False,
                client: OrderClient | None = None) -> tuple[RefundForm, RefundPricing]:
    """What the customer may ask back now, line by line, and until when — with the
    order's delivery facts refreshed from the order system first (order_refresh: an
    order shipped when the case was opened may be delivered by now). With
    ``for_settlement`` (agents only) every unit not yet held may be chosen, whatever
    the window says: a settlement moves no money through the gateway. The pricing
    basis comes along, so each choice in the form is priced without reading again."""
    if caller.role != (Role.AGENT if for_settlement else Role.CUSTOMER):
        raise DomainError(ErrorCode.FORBIDDEN)
    refresh_order_facts(session, caller, case_id, client)  # HTTP first, with no transaction open
    case, snap, pricing = _pricing(session, caller, case_id, for_settlement)
    facts, existing = pricing.facts, list(pricing.existing)
    window_days = get_settings().refund_window_days
    rows = preview(facts, existing, utcnow(), window_days)
    blocked = None if for_settlement or not rows else request_blocked(rows[0].verdict, sum(r.refundable for r in rows))
    labels = REASON_LABELS if for_settlement else REQUEST_REASON_LABELS
    return RefundForm(
        case_id=case.id,
        case_number=case.number or "",
        order_id=snap.order_id,
        currency=snap.currency,
        shipping=format_money(facts.shipping_total, snap.currency),
        quote=quote(pricing, {}, ""),  # nothing chosen yet
        lines=[
            RefundLineOption(
                line_id=row.line_id,
                name=row.name,
                purchased=row.purchased,
                held=row.held,
                refundable_now=row.refundable if for_settlement else row.refundable_now,
                unit_price=_unit_price_text(row.unit_amounts, snap.currency),
                eligible=row.verdict.eligible,  # the page says why when it is not
                deadline=iso(row.deadline),
                window_text=row.verdict.text,
            )
            for row in rows
        ],
        settle_hint=settlement_hint(payment_left(snap.amount_paid, existing), snap.currency) if for_settlement else "",
        reasons=[] if blocked else [Option(r.value, labels[r]) for r in offered_reasons(snap.delivered_at is not None,
                                                                                       for_settlement=for_settlement)],
        **_blocked_words(blocked, rows[0].deadline if rows else None, window_days),
    ), pricing


def _blocked_words(blocked: Blocked | None, deadline, window_days: int) -> dict[str, str]:
    """Why a customer's form has nothing to offer, and what to do instead."""
    settle = "they can still settle it another way (store credit, a replacement or a transfer)."
    words = {
        Blocked.NOT_DELIVERED: ("This order has not been delivered yet, so nothing on it can be refunded to your payment method.",
                                f"What to do: reply to the agent on the case — they can check with the carrier, and {settle}"),
        Blocked.WINDOW_ENDED: (f"The {window_days}-day refund window for this order ended on",
                               f"What to do: reply to the agent on the case — {settle}"),
        Blocked.ALL_HELD: ("Every item of this order is already in a refund request, refunded or settled.",
                           "What to do: see the refunds on the case, or reply to the agent there."),
    }
    if blocked is None:
        return {}
    text, help_ = words[blocked]
    return {"blocked": blocked.value, "blocked_text": text, "blocked_help": help_,
            "blocked_deadline": iso(deadline) if blocked is Blocked.WINDOW_ENDED else ""}


def _unit_price_text(amounts: tuple[int, ...], currency: str) -> str:
    """What one unit paid; rounding can make units of a line differ by a cent."""
    if not amounts:
        return format_money(0, currency)
    low, high = min(amounts), max(amounts)
    text = format_money(low, currency) if low == high else f"{format_money(low, currency)}–{format_money(high, currency)}"
    return f"{text} per unit"


def load_refund_for(session: Session, caller: Caller, refund_id: object, *, lock: bool = False) -> RefundCase:
    """The refund if the caller may see it; someone else's looks like a missing one."""
    refund = session.exec(_REFUND_LOCKED if lock else _REFUND, params={"refund_id": refund_key(refund_id)}).first()
    return _visible(caller, refund)


def refund_key(refund_id: object) -> int:
    if (key := record_id(refund_id)) is None:
        raise DomainError(ErrorCode.REFUND_NOT_FOUND)
    return key


def _visible(caller: Caller, refund: RefundCase | None) -> RefundCase:
    if refund is None:
        raise DomainError(ErrorCode.REFUND_NOT_FOUND)
    if caller.role == Role.AGENT or (caller.role == Role.CUSTOMER and refund.customer_id == caller.id):
        return refund
    raise DomainError(ErrorCode.NOT_CASE_OWNER, "That refund was not found.")


def get_refund(session: Session, caller: Caller, refund_id: object) -> RefundDetail:
    head = session.exec(_REFUND_PAGE, params={"refund_id": refund_key(refund_id)}).first()
    refund = _visible(caller, head[0] if head else None)
    _, case_number, snap, customer_name = head
    money = lambda amount: format_money(amount, refund.currency)  # noqa: E731
    items = session.exec(_ITEMS, params={"refund_id": refund.id})
    events = list(session.exec(_HISTORY, params={"refund_id": refund.id}))
    status = RefundStatus(refund.status)
    first = events[0][0] if events else None
    recorded = first is not None and first.kind == "settled" and first.from_status is None  # an agent's record
    verdict = window_verdict(snap.delivered_at, refund.requested_at, get_settings().refund_window_days)
    return RefundDetail(
        id=refund.id,
        number=refund.number or "",
        status=refund.status,
        status_label=STATUS_LABELS[status],
        reason_label=REASON_LABELS[RefundReason(refund.reason)],
        note=refund.note or "",
        amount=money(refund.amount),
        shipping=money(refund.shipping_amount) if refund.shipping_amount else "",
        currency=refund.currency,
        requested_at=iso(refund.requested_at),
        case_id=refund.support_case_id,
        case_number=case_number or "",
        order_id=snap.order_id,
        customer_name=customer_name,
        lines=[
            RefundItemView(
                name=name,
                quantity=item.quantity,
                amount=money(item.amount),
                unit_amounts=" + ".join(money(int(a)) for a in item.unit_amounts.split(",") if a),
            )
            for item, name in items
        ],
        history=[
            EventView(
                id=e.id,
                kind=e.kind,
                text=refund_event_text(e.kind, e.from_status, e.to_status, e.detail),
                actor_name=name or "Payment gateway",
                internal=False,
                created_at=iso(e.created_at),
            )
            for e, name in events
        ],
        can_cancel=RefundStatus.CANCELLED in allowed_refund_transitions(status, Role(caller.role)),
        version=refund.version,
        window_text=verdict.text,
        window_summary=verdict.summary,
        window_ended_at=iso(verdict.deadline) if verdict.code is ErrorCode.REFUND_WINDOW_EXPIRED else "",
        outcome_text=outcome_text(refund, for_agent=caller.role == Role.AGENT),
        gateway_reference=refund.gateway_reference or "",
        opened_label="Recorded" if recorded else "Requested",
        opened_by=(events[0][1] or "Unknown") if recorded else customer_name,
        support_message=(refund.decision_note or "") if status is R.SETTLED else "",
        **(_agent_extras(session, refund) if caller.role == Role.AGENT else {}),
    )


def outcome_text(refund: RefundCase, *, for_agent: bool = False) -> str:
    """What was decided, addressed to whoever reads it: the customer reads "your",
    an agent "the customer's"."""
    money = lambda amount: format_money(amount, refund.currency)  # noqa: E731
    whose = "the customer's" if for_agent else "your"
    if refund.status == RefundStatus.REFUNDED:
        return f"{money(refund.amount)} was refunded to {whose} original payment method (reference {refund.gateway_reference})."
    if refund.status == RefundStatus.REJECTED:
        label = REJECT_LABELS.get(RejectReason(refund.decision_code), "") if refund.decision_code in set(RejectReason) else ""
        return f"Not approved — {label}. {refund.decision_note or ''}".strip()
    if refund.status == RefundStatus.SETTLED:  # its message is shown apart, as from support
        kind = SETTLEMENT_LABELS.get(SettlementType(refund.decision_code)) if refund.decision_code in set(SettlementType) else "Settled"
        return f"{kind} of {money(refund.settled_amount or 0)}."
    if refund.status == RefundStatus.FAILED:
        return f"The payment provider could not refund this: {refund.failure_reason or 'declined'}."
    if refund.status == RefundStatus.PROCESSING:
        return f"Approved — the refund is on its way to {whose} payment method."
    return ""


def _agent_extras(session: Session, refund: RefundCase) -> dict:
    earlier = session.exec(_EARLIER, params={"customer_id": refund.customer_id, "refund_id": refund.id})
    attempts = list(session.exec(_ATTEMPTS, params={"refund_id": refund.id}))
    actions = agent_actions(refund, attempts)
    snap = session.get(OrderSnapshot, refund.order_snapshot_id)
    assert snap is not None
    left = payment_left(snap.amount_paid, existing_refunds(session, snap.id), excluding=refund.id)
    return {
        "earlier_refunds": [refund_row(r) for r in earlier],
        "attempts": [
            AttemptView(a.idempotency_key, a.status, a.gateway_reference or "", a.error_message or a.error_code or "", a.sends, iso(a.updated_at))
            for a in attempts
        ],
        "actions": actions,
        "internal_note": refund.internal_note or "",
        "settle_hint": settlement_hint(left, refund.currency, refund.amount) if "settle" in actions else "",
        "mismatch_alert": mismatch_alerts(attempts),
    }


def agent_actions(refund: RefundCase, attempts: list[RefundAttempt]) -> list[str]:
    """What an agent may do with the refund now, given its gateway attempts."""
    status = RefundStatus(refund.status)
    actions = [name for name, target in (("approve", R.APPROVED), ("reject", R.REJECTED), ("settle", R.SETTLED))
               if target in allowed_refund_transitions(status, Role.AGENT) and not (status is R.FAILED and refund.abandoned)]
    if status is R.FAILED and not refund.abandoned:
        actions += ["retry", "abandon"]
    if status is R.PROCESSING and any(a.status in ("pending", "unknown") for a in attempts):
        actions.append("reconcile")
    return actions


def mismatch_alerts(attempts: list[RefundAttempt]) -> str:
    return " ".join(mismatch_alert(a) for a in attempts if a.status == "mismatch")


def case_refunds_for_agent(session: Session, caller: Caller, case_id: int) -> list[tuple[RefundCase, list[RefundAttempt]]]:
    """A case's refunds, newest first, each with its gateway attempts: one statement
    however many there are (the workspace's sidebar)."""
    if caller.role != Role.AGENT:
        raise DomainError(ErrorCode.FORBIDDEN)
    refunds: dict[int, tuple[RefundCase, list[RefundAttempt]]] = {}
    for refund, attempt in session.exec(_CASE_REFUNDS_WITH_ATTEMPTS, params={"case_id": case_id}):
        _, attempts = refunds.setdefault(refund.id, (refund, []))
        if attempt is not None:
            attempts.append(attempt)
    return list(refunds.values())


def mismatch_alert(attempt: RefundAttempt) -> str:
    """What an agent reads when the gateway's answer did not match an attempt: both
    figures, and what to do."""
    said = answer_mismatch(str(attempt.error_code or "").removeprefix("answer_") or "succeeded", attempt.amount,
                           attempt.currency, attempt.reported_amount, attempt.reported_currency)
    reference = f" (gateway reference {attempt.gateway_reference})" if attempt.gateway_reference else ""
    asked = format_money(attempt.amount, attempt.currency)
    return (f"{said or attempt.error_message or 'The payment gateway answered about another amount.'} "
            f"This refund was not marked refunded and will not be sent again. What to do: look the refund up in the "
            f"payment gateway by its idempotency key {attempt.idempotency_key}{reference}. If more or other money than "
            f"{asked} went back, ask the payments team to have the gateway correct it; then tell the customer in the "
            f"case conversation what they will receive.")


def list_case_refunds(session: Session, caller: Caller, case_id: object) -> list[RefundRow]:
    return refund_rows(session, load_case_for(session, caller, case_id).id)


def price_refund(
    session: Session, caller: Caller, case_id: object, selection: object, reason: object, for_settlement: bool = False
) -> RefundQuote:
    """The exact total of these choices on the order as it is now; nothing is stored."""
    return quote(_pricing(session, caller, case_id, for_settlement and caller.role == Role.AGENT)[2], selection, reason)


def _pricing(session: Session, caller: Caller, case_id: object,
             for_settlement: bool) -> tuple[SupportCase, OrderSnapshot, RefundPricing]:
    case, snap = case_head(session, caller, case_id)  # one statement
    facts = order_facts(snap, snapshot_lines(session, snap.id))
    return case, snap, RefundPricing(facts, tuple(existing_refunds(session, snap.id)), for_settlement)


def quote(pricing: RefundPricing, selection: object, reason: object) -> RefundQuote:
    """The total a form shows for these choices (no I/O: the window is judged as of now)."""
    facts = pricing.facts
    money = lambda amount: format_money(amount, facts.currency)  # noqa: E731
    try:
        draft = build_refund(
            facts, list(pricing.existing), selection if isinstance(selection, dict) else {}, reason or RefundReason.OTHER,
            utcnow(), get_settings().refund_window_days, for_settlement=pricing.for_settlement,
        )
    except DomainError as err:
        return RefundQuote(total=money(0), shipping="", problem="" if err.code is ErrorCode.EMPTY_REFUND else err.message)
    shipping = money(draft.shipping_amount) if draft.shipping_amount else ""
    return RefundQuote(total=money(draft.total), shipping=shipping, problem="")


def refund_event_text(kind: str, from_status: str | None, to_status: str | None, detail: str | None) -> str:
    def label(status: str | None) -> str:
        try:
            return STATUS_LABELS[RefundStatus(status)]
        except ValueError:
            return status or ""

    if kind == "requested":
        return f"Requested the refund{': ' + detail if detail else ''}"
    if kind == "settled":  # the agent's record: settled on a request, or recorded from the case
        return f"Recorded a settlement{': ' + detail if detail else ''}"
    if kind == "status_changed":
        text = f"Changed status from {label(from_status)} to {label(to_status)}"
        return f"{text}: {detail}" if detail else text
    return detail or kind.replace("_", " ").capitalize()
