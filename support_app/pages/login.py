"""The sign-in page: a native HTML form that posts to /api/auth/login, which sets the
HttpOnly session cookie and sends the person on (to the page they came for)."""

from __future__ import annotations

import reflex as rx

from support_app.components.native_form import native_form
from support_app.state.login import LoginState
from support_app.pages.registry import page


@page(route="/login", title="Sign in · Support & Refunds", on_load=LoginState.prepare)
def login() -> rx.Component:
    return rx.center(
        rx.card(
            native_form(
                rx.vstack(
                    rx.heading("Sign in", size="6"),
                    rx.text("Support & Refunds", color_scheme="gray", size="2"),
                    rx.el.label("Email", html_for="email", style={"fontSize": "14px", "fontWeight": 500}),
                    # Re-mounted (key) when the page learns the email typed last time.
                    rx.input(name="email", type="email", placeholder="you@example.com", required=True, id="email",
                             width="100%", auto_complete="username", max_length=254,
                             default_value=LoginState.email, key=LoginState.email),
                    rx.el.label("Password", html_for="password", style={"fontSize": "14px", "fontWeight": 500}),
                    rx.input(name="password", type="password", required=True, id="password", width="100%",
                             auto_complete="current-password", max_length=1024),
                    rx.el.input(type="hidden", name="next", value=LoginState.next_path),
                    rx.el.input(type="hidden", name="tab", value=rx.State.router.session.client_token),
                    rx.cond(LoginState.error != "", rx.callout(LoginState.error, color_scheme="red", icon="triangle_alert",
                                                              id="login-error", width="100%", role="alert")),
                    rx.button("Sign in", type="submit", width="100%", id="sign-in"),
                    spacing="3",
                    width="100%",
                ),
                action="/api/auth/login",
                method="post",
            ),
            width="100%",
            max_width="24rem",
        ),
        padding="1rem",
        min_height="100vh",
    )
