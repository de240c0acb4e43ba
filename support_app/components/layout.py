"""The page shell: a top bar with the product name, the role's links and sign-out.

Above 640 px the links sit in the bar; below it the bar is one line with a menu that
holds them (assets/shell.css switches between the two). The links are data, one list
per role; none are shown until the page knows the role (an agent must not glimpse the
customer's links while the page connects).
"""

from __future__ import annotations

import reflex as rx
from reflex_components_core.react_router.dom import ReactRouterLink

from support_app.components.native_form import native_form
from support_app.state.base import AppState

# (label, href, id) per role, in the order shown.
NAV_LINKS: dict[str, list[tuple[str, str, str]]] = {
    "agent": [
        ("Workspace", "/workspace", "nav-workspace"),
        ("Case queue", "/queue", "nav-queue"),
        ("Refund queue", "/refunds", "nav-refunds"),
        ("Cases", "/overview/cases", "nav-overview-cases"),
        ("Refunds", "/overview/refunds", "nav-overview-refunds"),
        ("Metrics", "/metrics", "nav-metrics"),
    ],
    "customer": [
        ("My orders", "/orders", "nav-orders"),
        ("My cases", "/cases", "nav-cases"),
        ("My refunds", "/my/refunds", "nav-my-refunds"),
    ],
}
SIGN_OUT_FORM = "sign-out-form"


def _per_role(render) -> rx.Component:
    """The signed-in role's links drawn by ``render(label, href, id)``; nothing while the role is unknown."""
    return rx.match(
        AppState.user_role,
        *[(role, rx.fragment(*[render(*link) for link in links])) for role, links in NAV_LINKS.items()],
        rx.fragment(),
    )


def _link(label: str, href: str, test_id: str) -> rx.Component:
    return rx.link(label, href=href, id=test_id, size="2", weight="medium", class_name="nav-link")


def _menu_link(label: str, href: str, test_id: str) -> rx.Component:
    # A bare router link: a styled rx.link renders a fragment the menu item cannot slot onto.
    return rx.menu.item(ReactRouterLink.create(label, to=href, id="menu-" + test_id), as_child=True,
                        class_name="nav-menu-item")


def _home() -> rx.Component:
    return rx.link(rx.heading("Support & Refunds", size="4", as_="p"), href="/", underline="none", color="inherit")


def _full_bar() -> rx.Component:
    return rx.hstack(
        _home(),
        rx.spacer(),
        rx.hstack(_per_role(_link), spacing="4", wrap="wrap", align="center"),
        rx.text(AppState.user_name, size="2", color_scheme="gray", id="nav-user"),
        # A native form post: the server ends the sign-in, clears every tab of it and
        # the HttpOnly cookie, then shows the sign-in page (the menu's item submits it too).
        rx.cond(
            AppState.signed_in,
            native_form(rx.button("Sign out", type="submit", variant="soft", size="1", id="sign-out"),
                        action="/api/auth/logout", method="post", id=SIGN_OUT_FORM),
        ),
        wrap="wrap",
        align="center",
        spacing="4",
        width="100%",
        class_name="nav-full",
    )


def _compact_bar() -> rx.Component:
    return rx.hstack(
        _home(),
        rx.spacer(),
        rx.cond(
            AppState.signed_in,
            rx.menu.root(
                # Not modal: a modal menu hides the page from screen readers with aria-hidden
                # while its links can still take focus (axe: aria-hidden-focus).
                rx.menu.trigger(rx.icon_button(rx.icon("menu"), variant="soft", size="3", aria_label="Menu", id="nav-menu")),
                rx.menu.content(
                    rx.text(AppState.user_name, size="1", color_scheme="gray", padding="0.25rem 0.75rem", id="menu-user"),
                    _per_role(_menu_link),
                    rx.menu.separator(),
                    rx.menu.item(rx.el.button("Sign out", type="submit", form=SIGN_OUT_FORM, id="menu-sign-out"),
                                 as_child=True, class_name="nav-menu-item"),
                    align="end",
                    id="nav-menu-content",
                ),
                modal=False,
            ),
        ),
        align="center",
        width="100%",
        class_name="nav-compact",
    )


def nav_bar() -> rx.Component:
    return rx.el.header(
        rx.el.nav(_full_bar(), _compact_bar(), aria_label="Main"),
        padding="0.75rem 1rem",
        border_bottom="1px solid var(--gray-5)",
        width="100%",
        id="page-header",
    )


def page_shell(*children: rx.Component, title: str) -> rx.Component:
    return rx.box(
        nav_bar(),
        rx.el.main(
            rx.container(
                rx.vstack(rx.heading(title, size="6", id="page-title", as_="h1"), *children, spacing="4", width="100%"),
                size="3",
                padding_x="1rem",
                padding_y="1.5rem",
            ),
        ),
        width="100%",
    )
