from __future__ import annotations

import reflex as rx

from support_app.state.login import LoginState


@rx.page(route="/login", title="Sign in · Support & Refunds", on_load=LoginState.redirect_if_signed_in)
def login() -> rx.Component:
    return rx.center(
        rx.card(
            rx.form(
                rx.vstack(
                    rx.heading("Sign in", size="6"),
                    rx.text("Support & Refunds", color_scheme="gray", size="2"),
                    rx.text("Email", size="2", weight="medium"),
                    rx.input(name="email", type="email", placeholder="you@example.com", required=True, id="email", width="100%", auto_complete="username"),
                    rx.text("Password", size="2", weight="medium"),
                    rx.input(name="password", type="password", required=True, id="password", width="100%", auto_complete="current-password"),
                    rx.cond(LoginState.error != "", rx.callout(LoginState.error, color_scheme="red", icon="triangle_alert", id="login-error", width="100%")),
                    rx.button("Sign in", type="submit", loading=LoginState.busy, width="100%", id="sign-in"),
                    spacing="3",
                    width="100%",
                ),
                on_submit=LoginState.submit,
                reset_on_submit=False,
            ),
            width="100%",
            max_width="24rem",
        ),
        padding="1rem",
        min_height="100vh",
    )
