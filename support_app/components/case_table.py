"""The list of cases, as cards that read well on a phone and a desk alike."""

from __future__ import annotations

import reflex as rx

from support_app.components.bits import local_time, status_badge
from support_app.services.views import CaseRow


def case_row(row: rx.Var[CaseRow], show_customer: bool) -> rx.Component:
    return rx.link(
        rx.card(
            rx.vstack(
                rx.hstack(
                    rx.text(row.number, weight="bold", class_name="case-number"),
                    status_badge(row.status, row.status_label),
                    rx.badge(row.priority, variant="outline"),
                    rx.spacer(),
                    local_time(row.created_at),
                    width="100%",
                    wrap="wrap",
                    align="center",
                ),
                rx.text(row.subject, class_name="case-subject"),
                rx.hstack(
                    rx.text("Order ", row.order_id, size="1", color_scheme="gray"),
                    rx.text(row.category_label, size="1", color_scheme="gray"),
                    *(
                        [
                            rx.text(row.customer_name, size="1", color_scheme="gray"),
                            rx.text(
                                rx.cond(row.assignee_name != "", "Assigned to " + row.assignee_name, "Unassigned"),
                                size="1",
                                color_scheme="gray",
                            ),
                        ]
                        if show_customer
                        else []
                    ),
                    spacing="3",
                    wrap="wrap",
                ),
                spacing="1",
                width="100%",
            ),
            width="100%",
        ),
        href="/cases/" + row.id.to_string(),
        underline="none",
        width="100%",
        class_name="case-row",
    )
