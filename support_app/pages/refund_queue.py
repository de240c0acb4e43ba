from __future__ import annotations

import reflex as rx

from support_app.components.bits import page_skeleton, status_badge
from support_app.components.layout import page_shell
from support_app.services.views import RefundQueueRow
from support_app.state.refund_queue import RefundQueueState as Q
from support_app.pages.registry import page



def queue_row(row: rx.Var[RefundQueueRow]) -> rx.Component:
    return rx.link(
        rx.card(
            rx.hstack(
                rx.text(row.number, weight="bold"),
                status_badge(row.status, row.status_label),
                rx.text(row.customer_name, size="2"),
                rx.text(row.case_number, size="1", color_scheme="gray"),
                rx.spacer(),
                rx.text(row.amount, weight="medium"),
                rx.text(  # "waiting 2 minutes" while it needs a decision; otherwise when it was asked for
                    rx.cond(row.status == "requested", "waiting ", "requested "),
                    rx.moment(row.requested_at, from_now=True, ago=row.status == "requested", local=True),
                    size="1", color_scheme="gray", class_name="queue-age",
                ),
                wrap="wrap",
                align="center",
                width="100%",
            ),
            width="100%",
        ),
        href="/refunds/" + row.id.to_string(),
        underline="none",
        width="100%",
        class_name="refund-queue-row",
    )


@page(route="/refunds", title="Refund queue · Support & Refunds", on_load=Q.load)
def refund_queue_page() -> rx.Component:
    return page_shell(
        rx.el.select(
            rx.el.option("All", value="all"),
            rx.foreach(Q.counts, lambda c: rx.el.option(c.label, value=c.value)),
            value=Q.status_filter,
            on_change=Q.set_status_filter,
            id="refund-status-filter",
            aria_label="Which refunds",
            style={"padding": "0.35rem"},
        ),
        rx.cond(
            Q.attention.length() > 0,
            rx.vstack(
                rx.callout("Needs an agent: the payment gateway's answer did not match these refunds. They are not marked "
                           "refunded and will not be sent again; open each for both figures and what to do.",
                           icon="triangle_alert", color_scheme="red", role="alert", width="100%"),
                rx.foreach(Q.attention, queue_row),
                id="refund-attention",
                width="100%",
                spacing="2",
            ),
        ),
        page_skeleton(~Q.loaded),
        rx.cond(Q.loaded & (Q.rows.length() == 0), rx.text("Nothing waiting here.", id="no-refunds")),
        rx.foreach(Q.rows, queue_row),
        title="Refund queue",
    )
