"""Filters that fold away on a phone: a "Filters" toggle shows or hides them below
640 px (closed at first); above it they are always open and the toggle is hidden.
Pure CSS (assets/shell.css), so it needs no event and no round trip."""

from __future__ import annotations

import reflex as rx


def filter_panel(*children: rx.Component, panel_id: str) -> rx.Component:
    toggle = f"{panel_id}-toggle"
    return rx.box(
        rx.el.input(type="checkbox", id=toggle, class_name="filters-toggle", aria_controls=panel_id, aria_label="Show filters"),
        rx.el.label(rx.icon("sliders-horizontal", size=16), "Filters", html_for=toggle, class_name="filters-toggle-label"),
        rx.box(*children, id=panel_id, class_name="filters-body", width="100%"),
        class_name="filter-panel",
        width="100%",
    )
