"""The page shell: a top bar with the product name, the role's links and sign-out."""

from __future__ import annotations

import reflex as rx

from support_app.components.native_form import native_form
from support_app.state.base import AppState


def _link(label: str, href: str, test_id: str) -> rx.Component:
    return rx.link(label, href=href, id=test_id, size="2", weight="medium")


def nav_bar() -> rx.Component:
    return rx.hstack(
        rx.link(rx.heading("Support & Refunds", size="4"), href="/", underline="none"),
        rx.spacer(),
        rx.cond(
            AppState.is_agent,
            rx.hstack(_link("Case queue", "/queue", "nav-queue"), _link("Refund queue", "/refunds", "nav-refunds"),
                _link("Cases", "/overview/cases", "nav-overview-cases"),
                _link("Refunds", "/overview/refunds", "nav-overview-refunds"),
                _link("Metrics", "/metrics", "nav-metrics"),
                spacing="4",
            ),
            rx.hstack(
                _link("My orders", "/orders", "nav-orders"),
                _link("My cases", "/cases", "nav-cases"),
                _link("My refunds", "/my/refunds", "nav-my-refunds"),
                spacing="4",
            ),
        ),
        rx.text(AppState.user_name, size="2", color_scheme="gray", id="nav-user"),
        # A native form post: the server ends the sign-in, clears every tab of it and
        # the HttpOnly cookie, then shows the sign-in page.
        native_form(rx.button("Sign out", type="submit", variant="soft", size="1", id="sign-out"),
                    action="/api/auth/logout", method="post"),
        wrap="wrap",
        align="center",
        spacing="4",
        padding="0.75rem 1rem",
        border_bottom="1px solid var(--gray-5)",
        width="100%",
    )


def page_shell(*children: rx.Component, title: str) -> rx.Component:
    return rx.box(
        nav_bar(),
        rx.container(
            rx.vstack(rx.heading(title, size="6", id="page-title"), *children, spacing="4", width="100%"),
            size="3",
            padding_x="1rem",
            padding_y="1.5rem",
        ),
        width="100%",
    )
