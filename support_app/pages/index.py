from __future__ import annotations

import reflex as rx

from support_app.state.login import LoginState
from support_app.pages.registry import page


@page(route="/", title="Support & Refunds", on_load=LoginState.go_home)
def index() -> rx.Component:
    return rx.center(rx.spinner(size="3"), min_height="60vh")
