"""The conversation of a case: replies, and for agents the internal notes."""

from __future__ import annotations

import reflex as rx

from support_app.components.bits import local_time, show_earlier
from support_app.services.views import MessageView


def message_bubble(msg: rx.Var[MessageView]) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.text(msg.author_name, weight="bold", size="2"),
                rx.cond(msg.internal, rx.badge("Internal note", color_scheme="amber")),
                rx.cond(msg.author_role == "agent", rx.badge("Support", variant="soft")),
                rx.spacer(),
                rx.text(local_time(msg.created_at), size="1", color_scheme="gray"),
                width="100%",
                wrap="wrap",
            ),
            rx.text(msg.body, white_space="pre-wrap", class_name="message-body"),
            spacing="1",
            width="100%",
        ),
        width="100%",
        background=rx.cond(msg.internal, "var(--amber-2)", "var(--gray-1)"),
        class_name=rx.cond(msg.internal, "message internal-note", "message reply"),
    )


def conversation(messages: rx.Var[list[MessageView]], earlier: rx.Var[int], show_all) -> rx.Component:
    """The newest messages, oldest first; ``earlier`` are older ones not shown until ``show_all``."""
    return rx.vstack(
        rx.heading("Conversation", size="4"),
        show_earlier(earlier, "earlier message", "earlier messages", show_all, "show-earlier-messages"),
        rx.cond(messages.length() == 0, rx.text("No messages yet.", color_scheme="gray", size="2")),
        rx.foreach(messages, message_bubble),
        spacing="2",
        width="100%",
        id="conversation",
    )
