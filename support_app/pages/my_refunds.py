"""My refunds (customers): each refund with its case, items, amount, status and dates."""

from __future__ import annotations

import reflex as rx

from support_app.components.bits import local_time, status_badge
from support_app.components.layout import page_shell
from support_app.services.my_refunds import MyRefundRow
from support_app.state.my_refunds import MyRefundsState as S
from support_app.pages.registry import page


def _refund(row: rx.Var[MyRefundRow]) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.link(row.number, href="/refunds/" + row.id.to_string(), weight="bold", class_name="my-refund-number"),
                status_badge(row.status, row.status_label),
                rx.spacer(),
                rx.text(row.amount, weight="medium", class_name="my-refund-amount"),
                align="center",
                wrap="wrap",
                width="100%",
            ),
            rx.text(row.items_text, size="2", class_name="my-refund-items"),
            rx.hstack(
                rx.text("Case ", rx.link(row.case_number, href="/cases/" + row.case_id.to_string()), " · order ", row.order_id,
                        size="1", color_scheme="gray"),
                rx.text("Requested ", local_time(row.requested_at), size="1", color_scheme="gray"),
                rx.text("Last change ", local_time(row.updated_at), size="1", color_scheme="gray"),
                spacing="3",
                wrap="wrap",
            ),
            spacing="1",
            width="100%",
        ),
        width="100%",
        class_name="my-refund",
        data_status=row.status,
    )


def _pager() -> rx.Component:
    return rx.hstack(
        rx.text(S.count_text, " refunds", size="2", id="my-refunds-count"),
        rx.spacer(),
        rx.cond(S.prev_href != "", rx.link(rx.button("← Newer", variant="soft"), href=S.prev_href, id="prev-page")),
        rx.cond(S.next_href != "", rx.link(rx.button("Older →", variant="soft"), href=S.next_href, id="next-page")),
        width="100%",
        align="center",
    )


@page(route="/my/refunds", title="My refunds · Support & Refunds", on_load=S.load)
def my_refunds_page() -> rx.Component:
    return page_shell(
        rx.cond(
            S.loaded & (S.rows.length() == 0),
            rx.text("You have not asked for a refund yet. Ask for one from a case about your order.", id="no-refunds"),
            rx.vstack(_pager(), rx.foreach(S.rows, _refund), spacing="3", width="100%", id="my-refunds"),
        ),
        title="My refunds",
    )
