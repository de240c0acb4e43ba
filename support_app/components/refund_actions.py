"""The agent's panel on a refund case: approve, reject, settle, retry, reconcile."""

from __future__ import annotations

import reflex as rx

from support_app.domain.refund_decisions import INTERNAL_NOTE_MAX, MESSAGE_MAX, MESSAGE_MIN
from support_app.components.bits import field_error, local_time, status_badge
from support_app.state.refund_page import REJECT_OPTIONS, SETTLE_OPTIONS, RefundState

refund = RefundState.refund
errors = RefundState.field_errors


def _can(action: str) -> rx.Var:
    return refund.actions.contains(action)


def _confirm(trigger_label: str, trigger_id: str, title, text, confirm_label: str, on_confirm, color: str,
             *, submits: str = "", variant: str = "solid") -> rx.Component:
    """A button that asks first. ``submits``: the id of a form the confirm button submits
    (the dialog is rendered outside the form, so it names the form instead of being in it)."""
    confirm = (rx.button(confirm_label, color_scheme=color, type="submit", form=submits, id=trigger_id + "-confirm", high_contrast=True)
               if submits else
               rx.button(confirm_label, color_scheme=color, on_click=on_confirm, id=trigger_id + "-confirm", high_contrast=True))
    return rx.alert_dialog.root(
        rx.alert_dialog.trigger(rx.button(trigger_label, color_scheme=color, variant=variant, type="button", id=trigger_id,
                                          loading=RefundState.busy, high_contrast=True)),
        rx.alert_dialog.content(
            rx.alert_dialog.title(title),
            rx.alert_dialog.description(text),
            rx.hstack(
                rx.alert_dialog.cancel(rx.button("Back", variant="soft")),
                rx.alert_dialog.action(confirm),
                justify="end",
                spacing="3",
            ),
        ),
    )


def _select(name: str, options: list[list[str]], prompt: str) -> rx.Component:
    return rx.el.select(
        rx.el.option(prompt, value=""),
        *[rx.el.option(label, value=value) for value, label in options],
        name=name,
        id=name,
        aria_label=prompt.rstrip("…"),
        default_value="",
        style={"padding": "0.35rem", "width": "100%"},
    )


def _reject_form() -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.text("Reject", weight="bold", size="2"),
            _select("reject_code", REJECT_OPTIONS, "Reason…"),
            field_error(errors, "reject_code"),
            rx.text_area(name="reject_message", id="reject_message", placeholder="What the customer will read", aria_label="Message to the customer", width="100%", rows="2", max_length=MESSAGE_MAX),
            field_error(errors, "reject_message"),
            _confirm("Reject refund", "reject-submit", rx.Var.create("Reject ") + refund.number + "?",
                     "The customer reads the reason and your message; the items become refundable again.",
                     "Reject refund", None, "red", submits="reject-form", variant="soft"),
            width="100%",
            spacing="2",
        ),
        on_submit=RefundState.reject,
        reset_on_submit=False,
        width="100%",
        id="reject-form",
    )


def _settle_form() -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.text("Record a settlement (no gateway refund)", weight="bold", size="2"),
            _select("settle_type", SETTLE_OPTIONS, "How it was settled…"),
            field_error(errors, "settle_type"),
            rx.input(name="settle_amount", id="settle_amount", placeholder="Amount, e.g. 12.50", width="100%", max_length=20),
            rx.text(refund.settle_hint, size="1", color_scheme="gray", id="settle_hint"),
            field_error(errors, "settle_amount"),
            rx.text(f"Message to the customer, shown as from support ({MESSAGE_MIN} to {MESSAGE_MAX:,} characters)", size="1"),
            rx.text_area(name="settle_message", id="settle_message", placeholder="What the customer will read: what was done",
                         width="100%", rows="2", max_length=MESSAGE_MAX),
            field_error(errors, "settle_message"),
            rx.text(f"Internal note, agents only (optional, up to {INTERNAL_NOTE_MAX:,} characters)", size="1"),
            rx.text_area(name="settle_internal_note", id="settle_internal_note", placeholder="For the team: why, what was checked",
                         width="100%", rows="2", max_length=INTERNAL_NOTE_MAX),
            field_error(errors, "settle_internal_note"),
            rx.button("Record settlement", type="submit", variant="soft", id="settle-submit", loading=RefundState.busy),
            width="100%",
            spacing="2",
        ),
        on_submit=RefundState.settle,
        reset_on_submit=False,
        width="100%",
    )


def mismatch_alert() -> rx.Component:
    """The gateway's answer named another amount or currency: in front of the agent, first."""
    return rx.cond(
        refund.mismatch_alert != "",
        rx.callout.root(
            rx.callout.icon(rx.icon("triangle_alert")),
            rx.callout.text(rx.text.strong("The payment gateway's answer does not match this refund. "), refund.mismatch_alert),
            color_scheme="red",
            variant="surface",
            size="2",
            role="alert",
            id="mismatch-alert",
            width="100%",
        ),
    )


def agent_panel() -> rx.Component:
    return rx.vstack(
        rx.text(  # the window's end in the agent's own time zone
            rx.cond(refund.window_ended_at != "", rx.fragment(refund.window_summary, " on ", local_time(refund.window_ended_at)),
                    refund.window_text),
            size="2", id="window-verdict",
        ),
        rx.cond(refund.internal_note != "", rx.box(
            rx.text("Internal note (agents only)", size="1", weight="bold"),
            rx.text(refund.internal_note, size="2", white_space="pre-wrap"),
            id="internal-note", padding="0.5rem", background="var(--amber-2)", border_radius="6px", width="100%",
        )),
        rx.hstack(
            rx.cond(_can("approve"), _confirm("Approve", "approve",
                    rx.Var.create("Refund ") + refund.amount + " to the customer's original payment method?",
                    "It goes back through the payment gateway, exactly once; this cannot be undone.",
                    "Approve and refund", RefundState.approve, "green")),
            rx.cond(_can("retry"), rx.button("Retry", on_click=RefundState.retry, id="retry", loading=RefundState.busy)),
            rx.cond(_can("abandon"), _confirm("Abandon", "abandon", "Abandon this failed refund?",
                    "Its items become refundable again.", "Abandon", RefundState.abandon, "gray")),
            rx.cond(_can("reconcile"), rx.button("Check with gateway now", on_click=RefundState.reconcile_now, variant="soft", id="reconcile")),
            spacing="2",
            wrap="wrap",
        ),
        rx.cond(_can("reject"), _reject_form()),
        rx.cond(_can("settle"), _settle_form()),
        rx.cond(
            refund.attempts.length() > 0,
            rx.vstack(
                rx.text("Gateway attempts", weight="bold", size="2"),
                rx.foreach(
                    refund.attempts,
                    lambda a: rx.hstack(
                        rx.code(a.idempotency_key, size="1"),
                        rx.badge(a.status, variant="soft"),
                        rx.text(a.gateway_reference, size="1"),
                        rx.text(a.error, size="1", color_scheme="red"),
                        rx.text("sent ", a.sends, "×", size="1", color_scheme="gray"),
                        rx.text(local_time(a.updated_at, "HH:mm:ss"), size="1", color_scheme="gray"),
                        wrap="wrap",
                        class_name="attempt",
                    ),
                ),
                spacing="1",
                width="100%",
            ),
        ),
        rx.cond(
            refund.earlier_refunds.length() > 0,
            rx.vstack(
                rx.text("Customer's other refunds", weight="bold", size="2"),
                rx.foreach(
                    refund.earlier_refunds,
                    lambda r: rx.link(
                        rx.hstack(rx.text(r.number, size="2"), status_badge(r.status, r.status_label), rx.text(r.amount, size="2")),
                        href="/refunds/" + r.id.to_string(),
                        underline="none",
                    ),
                ),
                spacing="1",
            ),
        ),
        spacing="3",
        width="100%",
        id="agent-panel",
    )
