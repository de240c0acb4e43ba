from __future__ import annotations

import reflex as rx

from support_app.components.bits import local_time, skeleton_until, status_badge
from support_app.components.layout import page_shell
from support_app.components.refund_actions import agent_panel, mismatch_alert
from support_app.components.timeline import timeline
from support_app.state.base import AppState
from support_app.state.refund_page import RefundState
from support_app.pages.registry import page

refund = RefundState.refund


def _summary() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading(refund.number, size="5", id="refund-number"),
                rx.box(status_badge(refund.status, refund.status_label), id="refund-status"),
                wrap="wrap",
                align="center",
            ),
            rx.text("Case ", rx.link(refund.case_number, href="/cases/" + refund.case_id.to_string(), id="refund-case-link", underline="always"), " · order ", refund.order_id, size="2"),
            rx.text(refund.opened_label, " ", local_time(refund.requested_at), " by ", refund.opened_by, size="2", color_scheme="gray",
                    id="refund-opened"),
            rx.text("Reason: ", refund.reason_label, size="2"),
            rx.cond(refund.note != "", rx.text("Note: ", refund.note, size="2", white_space="pre-wrap")),
            rx.foreach(
                refund.lines,
                lambda it: rx.hstack(
                    rx.text(it.quantity, " × ", it.name, size="2"),
                    rx.spacer(),
                    rx.text(it.amount, size="2", title=it.unit_amounts),
                    width="100%",
                    class_name="refund-item",
                ),
            ),
            rx.cond(refund.shipping != "", rx.hstack(rx.text("Shipping", size="2"), rx.spacer(), rx.text(refund.shipping, size="2"), width="100%")),
            rx.hstack(rx.text("Total", weight="bold"), rx.spacer(), rx.heading(refund.amount, size="4", id="refund-amount"), width="100%"),
            rx.cond(refund.outcome_text != "", rx.callout(refund.outcome_text, icon="info", id="refund-outcome", width="100%")),
            rx.cond(refund.support_message != "", rx.card(
                rx.text("Message from support", size="1", weight="bold", color_scheme="gray"),
                rx.text(refund.support_message, size="2", white_space="pre-wrap", class_name="message-body"),
                id="support-message", width="100%",
            )),
            rx.cond(
                refund.can_cancel,
                rx.alert_dialog.root(
                    rx.alert_dialog.trigger(rx.button("Cancel request", color_scheme="red", variant="soft", id="cancel-refund", loading=RefundState.busy)),
                    rx.alert_dialog.content(
                        rx.alert_dialog.title("Cancel this refund request?"),
                        rx.alert_dialog.description("The items become refundable again; you can ask anew while the window is open."),
                        rx.hstack(
                            rx.alert_dialog.cancel(rx.button("Keep it", variant="soft")),
                            rx.alert_dialog.action(rx.button("Cancel request", color_scheme="red", on_click=RefundState.cancel, id="confirm-cancel")),
                            justify="end",
                            spacing="3",
                        ),
                    ),
                ),
            ),
            spacing="2",
            width="100%",
        ),
        width="100%",
    )


@page(route="/refunds/[refund_id]", title="Refund · Support & Refunds", on_load=RefundState.load)
def refund_page() -> rx.Component:
    return page_shell(
        rx.cond(RefundState.load_error != "", rx.callout(RefundState.load_error, color_scheme="red", icon="triangle_alert", id="refund-error")),
        skeleton_until(refund, RefundState.load_error),
        rx.cond(
            refund,
            rx.vstack(
                rx.cond(AppState.is_agent, mismatch_alert()),
                _summary(),
                rx.cond(AppState.is_agent, agent_panel()),
                timeline(refund.history),
                spacing="4",
                width="100%",
            ),
        ),
        title="Refund case",
    )
