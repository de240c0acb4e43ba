"""Any address that is no page: the shell, what happened, and the way back."""

from __future__ import annotations

import reflex as rx

from support_app.components.layout import page_shell
from support_app.state.not_found import NotFoundState
from support_app.pages.registry import page


@page(route="404", title="Page not found · Support & Refunds", on_load=NotFoundState.load)
def not_found_page() -> rx.Component:
    return page_shell(
        rx.text("There is no page at this address. It may have moved, or the link has a typo.", id="not-found-text"),
        rx.link(rx.button("Go to the start page", size="3"), href="/", id="go-home"),
        title="Page not found",
    )
