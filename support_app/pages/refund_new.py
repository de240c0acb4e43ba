from __future__ import annotations

import reflex as rx

from support_app.components.bits import field_error, field_label, local_time, skeleton_until
from support_app.components.layout import page_shell
from support_app.domain.refund_decisions import AMOUNT_TEXT_MAX, INTERNAL_NOTE_MAX, MESSAGE_MAX, MESSAGE_MIN
from support_app.services.refund_commands import NOTE_MAX
from support_app.services.views import RefundLineOption
from support_app.state.refund_form import SETTLE_TYPE_OPTIONS, RefundFormState
from support_app.pages.registry import page

S = RefundFormState


def line_row(line: rx.Var[RefundLineOption]) -> rx.Component:
    qty = S.quantities[line.line_id].to(int)
    return rx.card(
        rx.vstack(
            rx.hstack(rx.text(line.name, weight="bold"), rx.spacer(), rx.text(line.unit_price, size="2"), width="100%", wrap="wrap"),
            rx.hstack(
                rx.text("Bought ", line.purchased, size="1"),
                rx.text("Already requested or refunded ", line.held, size="1"),
                rx.text("Refundable now ", rx.text.strong(line.refundable_now), size="1", class_name="refundable-now"),
                spacing="3",
                wrap="wrap",
                color_scheme="gray",
            ),
            rx.cond(  # times in the viewer's own zone; no "until" on a line with nothing left to refund
                line.eligible,
                rx.cond(line.refundable_now > 0,
                        rx.text("Refundable until ", local_time(line.deadline), size="1", color_scheme="green", class_name="window")),
                rx.cond(line.deadline != "",
                        rx.text("The refund window ended on ", local_time(line.deadline), size="1", color_scheme="red", class_name="window"),
                        rx.text(line.window_text, size="1", color_scheme="red", class_name="window")),
            ),
            rx.cond(S.field_errors.contains(line.line_id),
                    rx.text(S.field_errors[line.line_id], color_scheme="red", size="1", class_name="line-error", role="alert")),
            rx.hstack(
                rx.icon_button(rx.icon("minus"), on_click=S.decrement(line.line_id), disabled=(qty <= 0), size="3", variant="soft", class_name="dec", aria_label="One less " + line.name),
                rx.text(qty, width="2.5rem", text_align="center", class_name="qty", aria_live="polite"),
                rx.icon_button(rx.icon("plus"), on_click=S.increment(line.line_id), disabled=(qty >= line.refundable_now), size="3", variant="soft", class_name="inc", aria_label="One more " + line.name),
                align="center",
            ),
            spacing="2",
            width="100%",
        ),
        width="100%",
        id="line-" + line.line_id,
        class_name="refund-line",
    )


def blocked() -> rx.Component:
    """Nothing can be requested: why, and what to do instead, with the way back to the case."""
    return rx.callout.root(
        rx.callout.icon(rx.icon("info")),
        rx.callout.text(
            S.form.blocked_text,
            rx.cond(S.form.blocked_deadline != "", rx.fragment(" ", local_time(S.form.blocked_deadline), ".")),
            id="blocked-why",
        ),
        rx.callout.text(S.form.blocked_help, id="blocked-help"),
        rx.link("Back to case " + S.form.case_number, href="/cases/" + S.form.case_id.to_string(), id="back-to-case"),
        color_scheme="amber",
        width="100%",
        id="refund-blocked",
    )


def refund_form() -> rx.Component:
    return rx.vstack(
        rx.text("Case ", rx.link(S.form.case_number, href="/cases/" + S.form.case_id.to_string(), underline="always"), " · order ", S.form.order_id, size="2"),
        rx.foreach(S.form.lines, line_row),
        rx.cond(S.form.blocked != "", blocked(), choices()),
        spacing="3",
        width="100%",
    )


def choices() -> rx.Component:
    """The choices and the button, as a plain form: the reason and the settlement type
    are chosen through the server (they change the total and what the button waits for);
    the notes and the amount stay in the browser until the form is sent. The two selects
    carry names only so that Reflex 0.10.1 does not warn that controls sent by their id
    stop being sent in 0.11; the handler goes by the server's copy of both."""
    return rx.form(rx.vstack(
        field_label("Reason", "reason"),
        rx.el.select(
            rx.el.option("Choose…", value=""),
            rx.foreach(S.form.reasons, lambda r: rx.el.option(r.label, value=r.value)),
            value=S.reason,
            on_change=S.set_reason,
            id="reason",
            name="reason",
            style={"padding": "0.4rem", "width": "100%"},
        ),
        field_error(S.field_errors, "reason"),
        rx.cond(
            S.mode == "settle",
            rx.vstack(
                field_label("How it was settled", "settle-type"),
                rx.el.select(
                    rx.el.option("Choose…", value=""),
                    *[rx.el.option(label, value=value) for value, label in SETTLE_TYPE_OPTIONS],
                    value=S.settle_type,
                    on_change=S.set_settle_type,
                    id="settle-type",
                    name="settle_type",
                    style={"padding": "0.4rem", "width": "100%"},
                ),
                field_error(S.field_errors, "settle_type"),
                field_label("Amount given to the customer", "settle-amount"),
                rx.input(name="settle_amount", id="settle-amount", placeholder="e.g. 20.00", width="100%", max_length=AMOUNT_TEXT_MAX),
                rx.text(S.form.settle_hint, size="1", color_scheme="gray", id="settle-hint"),
                field_error(S.field_errors, "settle_amount"),
                field_label(f"Message to the customer — they read it on their refund and in the case conversation, as a message "
                            f"from support ({MESSAGE_MIN} to {MESSAGE_MAX:,} characters)", "settle-message"),
                rx.text_area(name="settle_message", id="settle-message", max_length=MESSAGE_MAX, width="100%", rows="3"),
                field_error(S.field_errors, "settle_message"),
                field_label(f"Internal note — agents only, never shown to the customer (optional, up to {INTERNAL_NOTE_MAX:,} characters)",
                            "settle-internal-note"),
                rx.text_area(name="settle_internal_note", id="settle-internal-note", max_length=INTERNAL_NOTE_MAX, width="100%", rows="3"),
                field_error(S.field_errors, "settle_internal_note"),
                width="100%",
                spacing="2",
            ),
            rx.vstack(
                field_label("Note (optional)", "note"),
                rx.text_area(name="note", id="note", max_length=NOTE_MAX, width="100%", rows="3"),
                field_error(S.field_errors, "note"),
                width="100%",
                spacing="2",
            ),
        ),
        rx.cond(S.problem != "", rx.callout(S.problem, color_scheme="red", icon="triangle_alert", id="refund-problem")),
        field_error(S.field_errors, "window"),  # the window ended while the form was open
        rx.hstack(
            rx.text("Refund total", weight="medium"),
            rx.spacer(),
            rx.heading(S.total, size="5", id="refund-total"),
            width="100%",
            align="center",
        ),
        rx.cond(S.shipping != "", rx.text("includes shipping ", S.shipping, size="1", color_scheme="gray", id="refund-shipping")),
        rx.button(rx.cond(S.mode == "settle", "Record settlement", "Request refund"), type="submit",
                  disabled=~S.can_submit, loading=S.busy, id="submit-refund", width="100%"),
        rx.cond(S.submit_hint != "", rx.text(S.submit_hint, size="1", color_scheme="gray", id="submit-hint")),
        spacing="3",
        width="100%",
    ), on_submit=S.submit, reset_on_submit=False, width="100%")


@page(route="/cases/[case_id]/refund", title="Request a refund · Support & Refunds", on_load=S.load)
def refund_new_page() -> rx.Component:
    return page_shell(
        rx.cond(S.load_error != "", rx.callout(S.load_error, color_scheme="red", icon="triangle_alert", id="refund-form-error")),
        skeleton_until(S.form, S.load_error),
        rx.cond(S.form, refund_form()),
        title="Request a refund",
    )


@page(route="/cases/[case_id]/settle", title="Record a settlement · Support & Refunds", on_load=S.load)
def settle_page() -> rx.Component:
    return page_shell(
        rx.cond(S.load_error != "", rx.callout(S.load_error, color_scheme="red", icon="triangle_alert", id="refund-form-error")),
        rx.text("For items the gateway cannot refund (not delivered, or outside the refund window) or any other "
                "settlement: the chosen items are held like a refund's; no money moves through the gateway.", size="2"),
        skeleton_until(S.form, S.load_error),
        rx.cond(S.form, refund_form()),
        title="Record a settlement",
    )
