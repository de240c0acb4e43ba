"""Clearing the server-side state of browser tabs when a sign-in starts or ends.

A tab's Reflex state outlives page loads (it is keyed by the tab, not the sign-in),
and a page load's hydrate sends it all to the browser. So signing out must empty
every tab of that sign-in (the case with its internal notes, the refund, overview
rows, orders), and signing in must empty the tab it happens in. Called from the
HTTP sign-in/out routes, which hold no tab's lock; each tab is changed under its own
lock, like an event of that tab, on whichever process it lives (Redis state manager).
"""

from __future__ import annotations

import logging

import reflex as rx

from support_app.state.base import AppState

log = logging.getLogger(__name__)


async def reset_tabs(tabs: set[str]) -> None:
    """Every page state of each tab (Reflex client token) back to its defaults."""
    from support_app.support_app import app  # the running app (imported lazily: it imports this module's routes)

    for tab in tabs:
        try:
            async with app.modify_state(rx.BaseStateToken(ident=tab, cls=AppState)) as root:
                state = await root.get_state(AppState)
                await state._reset_pages()
        except Exception:  # noqa: BLE001 — one unreachable tab must not keep the others (or the sign-out) from finishing
            log.exception("could not clear a tab's state")
