from __future__ import annotations

import reflex as rx

from support_app.components.bits import field_error, field_label, skeleton_until
from support_app.components.layout import page_shell
from support_app.state.new_case import CATEGORY_OPTIONS, PRIORITY_OPTIONS, NewCaseState
from support_app.pages.registry import page


def case_form() -> rx.Component:
    errors = NewCaseState.field_errors
    return rx.form(
        rx.vstack(
            rx.text("Order ", rx.text.strong(NewCaseState.order.order_id), " · ", NewCaseState.order.total, id="case-order"),
            field_label("Category", "category"),
            rx.el.select(
                rx.el.option("Choose…", value=""),
                *[rx.el.option(label, value=value) for value, label in CATEGORY_OPTIONS],
                name="category",
                id="category",
                default_value="",
                style={"padding": "0.4rem", "width": "100%"},
            ),
            field_error(errors, "category"),
            field_label("Priority", "priority"),
            rx.el.select(
                *[rx.el.option(p.capitalize(), value=p) for p in PRIORITY_OPTIONS],
                name="priority",
                id="priority",
                default_value="normal",
                style={"padding": "0.4rem", "width": "100%"},
            ),
            field_error(errors, "priority"),
            field_label("Subject", "subject"),
            rx.input(name="subject", id="subject", max_length=120, width="100%"),
            field_error(errors, "subject"),
            field_label("Description", "description"),
            rx.text_area(name="description", id="description", rows="6", max_length=5000, width="100%"),
            field_error(errors, "description"),
            rx.button("Open case", type="submit", loading=NewCaseState.busy, disabled=NewCaseState.busy, id="submit-case"),
            spacing="2",
            width="100%",
        ),
        on_submit=NewCaseState.submit,
        reset_on_submit=False,
        width="100%",
    )


@page(route="/cases/new", title="Open a case · Support & Refunds", on_load=NewCaseState.load)
def new_case_page() -> rx.Component:
    return page_shell(
        rx.cond(
            NewCaseState.order_error != "",
            rx.callout(NewCaseState.order_error, color_scheme="red", icon="triangle_alert", id="order-error"),
        ),
        skeleton_until(NewCaseState.order, NewCaseState.order_error),
        rx.cond(NewCaseState.order, case_form()),
        title="Open a support case",
    )
