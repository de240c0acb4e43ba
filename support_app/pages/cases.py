from __future__ import annotations

import reflex as rx
from reflex_components_radix.themes.components.checkbox import Checkbox

from support_app.components.bits import loading, page_skeleton
from support_app.components.case_table import case_row
from support_app.components.layout import page_shell
from support_app.state.cases import CasesState
from support_app.pages.registry import page

FILTERS = [
    ("active", "Active"),
    ("all", "All"),
    ("open", "Open"),
    ("in_progress", "In progress"),
    ("waiting_on_customer", "Waiting on customer"),
    ("resolved", "Resolved"),
    ("closed", "Closed"),
]


def _filters(agent: bool) -> rx.Component:
    return rx.hstack(
        rx.el.select(
            *[rx.el.option(label, value=value) for value, label in FILTERS],
            value=CasesState.status_filter,
            on_change=CasesState.set_status_filter,
            id="status-filter",
            aria_label="Which cases",
            style={"padding": "0.35rem"},
        ),
        *(
            [
                rx.el.label(
                    Checkbox.create(checked=CasesState.assigned_to_me, on_change=CasesState.toggle_mine, id="assigned-to-me"),
                    rx.text("Assigned to me", size="2"),
                    class_name="touch-target",
                    style={"display": "inline-flex", "alignItems": "center", "gap": "0.4rem", "cursor": "pointer"},
                )
            ]
            if agent
            else []
        ),
        spacing="4",
        align="center",
        wrap="wrap",
    )


def _list(agent: bool, empty: str) -> rx.Component:
    return rx.vstack(
        _filters(agent),
        loading(CasesState.busy),
        page_skeleton(~CasesState.loaded),
        rx.cond(CasesState.loaded & (CasesState.rows.length() == 0), rx.text(empty, id="no-cases")),
        rx.foreach(CasesState.rows, lambda row: case_row(row, agent)),
        spacing="3",
        width="100%",
        id="case-list",
    )


@page(route="/cases", title="My cases · Support & Refunds", on_load=CasesState.load)
def my_cases_page() -> rx.Component:
    return page_shell(_list(False, "You have no cases here. Open one from My orders."), title="My cases")


@page(route="/queue", title="Case queue · Support & Refunds", on_load=CasesState.load)
def queue_page() -> rx.Component:
    return page_shell(_list(True, "No cases match."), title="Case queue")
