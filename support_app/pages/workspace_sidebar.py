"""The workspace's right-hand pane: who the customer is, what else they have open,
the order's lines, and the refunds on this case with approve and reject in place."""

from __future__ import annotations

import reflex as rx

from support_app.components.bits import field_error, local_time, status_badge
from support_app.domain.refund_decisions import MESSAGE_MAX as REJECT_MESSAGE_MAX
from support_app.state.refund_page import REJECT_OPTIONS
from support_app.state.workspace import WorkspaceState as W

ws = W.selected
case = W.selected.case


def _section(title: str, *children: rx.Component, id_: str) -> rx.Component:
    return rx.vstack(rx.text(title, weight="bold", size="2"), *children, spacing="1", width="100%", id=id_)


def _approve(r) -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.trigger(rx.button("Approve (a)", size="1", color_scheme="green", high_contrast=True, class_name="ws-approve",
                                          id="ws-approve-" + r.id.to_string(), disabled=W.busy)),
        rx.alert_dialog.content(
            rx.alert_dialog.title("Approve the refund of " + r.amount + "?", id="ws-approve-title"),
            rx.alert_dialog.description(r.amount + " goes back to the customer's payment method through the gateway, exactly once."),
            rx.hstack(
                rx.alert_dialog.cancel(rx.button("Back", variant="soft")),
                rx.alert_dialog.action(rx.button("Approve " + r.amount, color_scheme="green", high_contrast=True,
                                                 on_click=W.approve(r.id.to_string()), id="ws-approve-confirm")),
                justify="end",
                spacing="3",
                margin_top="1rem",
            ),
        ),
    )


def _reject(r) -> rx.Component:
    """Opened and closed by the state: it stays open when the rejection is refused (the
    reason and the message say why under themselves, what was typed stays) and closes
    once it went through."""
    rid = r.id.to_string()
    return rx.fragment(
        rx.button("Reject", size="1", color_scheme="red", variant="soft", id="ws-reject-" + rid, on_click=W.open_reject(rid),
                  disabled=W.busy),
        rx.dialog.root(
            rx.dialog.content(
                rx.dialog.title("Reject " + r.number + " (" + r.amount + ")?"),
                rx.form(
                    rx.vstack(
                        rx.el.input(type="hidden", name="refund_id", value=rid),
                        rx.el.select(rx.el.option("Reason…", value=""),
                                     *[rx.el.option(label, value=value) for value, label in REJECT_OPTIONS],
                                     name="reject_code", id="ws-reject-code", default_value="", aria_label="Reason",
                                     style={"padding": "0.35rem", "width": "100%"}),
                        field_error(W.field_errors, "reject_code"),
                        rx.text_area(name="reject_message", id="ws-reject-message", placeholder="What the customer will read",
                                     aria_label="Message to the customer", width="100%", rows="3", max_length=REJECT_MESSAGE_MAX),
                        field_error(W.field_errors, "reject_message"),
                        rx.hstack(
                            rx.dialog.close(rx.button("Back", type="button", variant="soft")),
                            rx.button("Reject refund", type="submit", color_scheme="red", loading=W.busy, id="ws-reject-confirm"),
                            justify="end",
                            spacing="3",
                            width="100%",
                        ),
                        spacing="2",
                        width="100%",
                    ),
                    on_submit=W.reject,
                    reset_on_submit=False,
                ),
            ),
            open=W.reject_for == rid,
            on_open_change=W.close_reject,
        ),
    )


def _case_refund(r) -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.link(r.number, href="/refunds/" + r.id.to_string(), size="2", weight="bold"),
            status_badge(r.status, r.status_label),
            rx.spacer(),
            rx.text(r.amount, size="2", weight="medium"),
            width="100%",
            align="center",
        ),
        rx.text(r.window_text, size="1", color_scheme="gray"),
        rx.cond(r.mismatch_alert != "", rx.text(r.mismatch_alert, size="1", color_scheme="red")),
        rx.hstack(
            rx.cond(r.actions.contains("approve"), _approve(r)),
            rx.cond(r.actions.contains("reject"), _reject(r)),
            # Settling needs the amount's limits and two texts: the refund page has that form.
            rx.cond(r.actions.contains("settle"),
                    rx.link(rx.button("Settle…", size="1", variant="soft"), href="/refunds/" + r.id.to_string())),
            spacing="2",
            wrap="wrap",
        ),
        spacing="1",
        width="100%",
        padding="0.4rem",
        border="1px solid var(--gray-5)",
        border_radius="6px",
        class_name="ws-refund",
    )


def sidebar() -> rx.Component:
    """The open case's customer, their other cases and refunds, the order's lines and
    the refunds on this case with their actions (empty until a case is picked)."""
    return rx.cond(
        ws,
        rx.vstack(
            _section(
                "Customer",
                rx.text(case.customer_name, size="2", id="ws-customer-name"),
                rx.text(case.customer_email, size="1", color_scheme="gray"),
                # Refunds to the payment method and settlements (store credit, replacement,
                # goodwill) together: "refunded" on the metrics page means the former only.
                rx.cond(ws.given_back.length() == 0, rx.text("Nothing given back so far", size="1")),
                rx.foreach(ws.given_back, lambda t: rx.text("Given back ", t.label, size="1", class_name="ws-total",
                                                              title="Refunded to the payment method and settled")),
                id_="ws-customer",
            ),
            _section(
                "Their other cases",
                rx.cond(ws.customer_cases.length() == 0, rx.text("None", size="1", color_scheme="gray")),
                rx.foreach(ws.customer_cases, lambda c: rx.hstack(
                    rx.link(c.number, on_click=W.select_case(c.id.to_string()), size="1", cursor="pointer"),
                    status_badge(c.status, c.status_label), rx.text(c.subject, size="1", trim="both"),
                    align="center", spacing="2", class_name="ws-other-case")),
                id_="ws-other-cases",
            ),
            _section(
                "Their refunds",
                rx.cond(ws.customer_refunds.length() == 0, rx.text("None", size="1", color_scheme="gray")),
                rx.foreach(ws.customer_refunds, lambda r: rx.hstack(
                    rx.link(r.number, href="/refunds/" + r.id.to_string(), size="1"),
                    status_badge(r.status, r.status_label), rx.text(r.amount, size="1"),
                    rx.text(r.case_number, size="1", color_scheme="gray"), align="center", spacing="2")),
                id_="ws-customer-refunds",
            ),
            _section(
                "Order " + case.order_id,
                rx.foreach(ws.lines, lambda ln: rx.vstack(
                    rx.text(ln.name, size="1", weight="medium"),
                    rx.text(ln.refundable_now, " of ", ln.purchased, " refundable now",
                            rx.cond(ln.deadline != "", rx.fragment(" · until ", local_time(ln.deadline)), ""),
                            size="1", color_scheme="gray"),
                    spacing="0", class_name="ws-line", id="ws-line-" + ln.line_id)),
                id_="ws-order",
            ),
            _section(
                "Refunds on this case",
                rx.cond(ws.refunds.length() == 0, rx.text("None", size="1", color_scheme="gray")),
                rx.foreach(ws.refunds, _case_refund),
                rx.cond(case.status != "closed",
                        rx.link("Record a settlement", href="/cases/" + case.id.to_string() + "/settle", size="1")),
                id_="ws-refunds",
            ),
            spacing="4",
            width="100%",
        ),
    )
