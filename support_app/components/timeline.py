"""A case's history, oldest first: who did what, and when."""

from __future__ import annotations

import reflex as rx

from support_app.components.bits import local_time, show_earlier
from support_app.services.views import EventView


def timeline_item(event: rx.Var[EventView]) -> rx.Component:
    return rx.hstack(
        rx.box(width="0.5rem", height="0.5rem", border_radius="50%", background=rx.cond(event.internal, "var(--amber-9)", "var(--accent-9)"), margin_top="0.45rem", flex_shrink="0"),
        rx.vstack(
            rx.text(rx.text.strong(event.actor_name), " ", event.text, size="2"),
            rx.text(local_time(event.created_at, "YYYY-MM-DD HH:mm:ss"), size="1", color_scheme="gray"),
            spacing="0",
        ),
        spacing="2",
        align="start",
        class_name="timeline-item",
    )


def timeline(events: rx.Var[list[EventView]], earlier: rx.Var[int] | None = None, show_all=None) -> rx.Component:
    """``earlier``: older entries not shown until ``show_all`` (a case's long history)."""
    more = [show_earlier(earlier, "earlier entry", "earlier entries", show_all, "show-earlier-history")] if show_all else []
    return rx.vstack(rx.heading("History", size="4"), *more, rx.foreach(events, timeline_item), spacing="2", id="timeline",
                     width="100%")
