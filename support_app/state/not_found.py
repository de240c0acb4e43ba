"""The 404 page: who is here, only so the shell can show their links (a stranger
sees the page too, with no links, and is not sent to sign in)."""

from __future__ import annotations

import reflex as rx

from support_app.domain.errors import DomainError
from support_app.state.base import AppState


class NotFoundState(AppState):
    @rx.event
    async def load(self):
        self._fresh_page()
        try:
            await self._caller()
        except DomainError:
            return None  # not signed in: the page says the same, without links
