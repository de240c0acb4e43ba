from __future__ import annotations

import reflex as rx

from support_app.components.bits import loading, local_time, page_skeleton
from support_app.components.layout import page_shell
from support_app.services.views import OrderView
from support_app.state.orders import OrdersState
from support_app.pages.registry import page


def order_card(order: rx.Var[OrderView]) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.text(order.order_id, weight="bold"),
                rx.badge(order.status, variant="surface"),
                rx.spacer(),
                rx.text(order.total, weight="medium"),
                width="100%",
                wrap="wrap",
            ),
            rx.hstack(
                rx.text("Placed", size="1", color_scheme="gray"),
                local_time(order.placed_at, "YYYY-MM-DD"),
                rx.text("Delivered", size="1", color_scheme="gray"),
                local_time(order.delivered_at, "YYYY-MM-DD"),
                spacing="2",
                wrap="wrap",
                font_size="0.85rem",
            ),
            rx.foreach(order.lines, lambda line: rx.text(line.quantity, " × ", line.name, size="2")),
            rx.link(
                rx.button("Open a case", size="2", variant="soft"),
                href="/cases/new?order=" + order.order_id,
                id="open-case-" + order.order_id,
            ),
            spacing="2",
            width="100%",
        ),
        width="100%",
        class_name="order-card",
    )


@page(route="/orders", title="My orders · Support & Refunds", on_load=OrdersState.load)
def orders_page() -> rx.Component:
    return page_shell(
        loading(OrdersState.busy),
        page_skeleton(~OrdersState.loaded & (OrdersState.load_error == "")),
        rx.cond(OrdersState.load_error != "", rx.callout(OrdersState.load_error, color_scheme="red", icon="triangle_alert", id="orders-error")),
        rx.cond(
            OrdersState.loaded & (OrdersState.orders.length() == 0),
            rx.text("You have no orders yet.", id="no-orders"),
        ),
        rx.foreach(OrdersState.orders, order_card),
        title="My orders",
    )
