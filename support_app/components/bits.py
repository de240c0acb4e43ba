"""Small display pieces: status badges, field errors, local times, loading."""

from __future__ import annotations

import reflex as rx

STATUS_COLORS = {
    "open": "blue",
    "in_progress": "amber",
    "waiting_on_customer": "purple",
    "resolved": "green",
    "closed": "gray",
    # refund cases
    "requested": "blue",
    "approved": "cyan",
    "processing": "amber",
    "refunded": "green",
    "failed": "red",
    "rejected": "red",
    "settled": "green",
    "cancelled": "gray",
}


def status_badge(status: rx.Var, label: rx.Var) -> rx.Component:
    return rx.badge(
        label,
        color_scheme=rx.match(status, *STATUS_COLORS.items(), "gray"),
        variant="soft",
        class_name="status-badge",
    )


def field_error(errors: rx.Var, name: str) -> rx.Component:
    return rx.cond(
        errors.contains(name),
        rx.text(errors[name], color_scheme="red", size="1", id=f"error-{name}", role="alert"),
    )


def local_time(iso: rx.Var, fmt: str = "YYYY-MM-DD HH:mm") -> rx.Component:
    """A UTC timestamp shown in the viewer's own time zone."""
    return rx.cond(iso != "", rx.moment(iso, format=fmt, local=True), rx.text("—"))


def loading(flag: rx.Var) -> rx.Component:
    return rx.cond(flag, rx.hstack(rx.spinner(size="2"), rx.text("Loading…", size="2"), id="loading"))
