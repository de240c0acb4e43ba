"""The customer's "My refunds": her refunds, newest first, updated live (pushed)."""

from __future__ import annotations

from urllib.parse import urlencode

import reflex as rx

from support_app.domain.errors import DomainError
from support_app.services import my_refunds
from support_app.services.auth_service import Identity
from support_app.services.my_refunds import MyRefundRow
from support_app.services.runner import call
from support_app.state.base import AppState

PATH = "/my/refunds"


class MyRefundsState(AppState):
    rows: list[MyRefundRow] = []
    count_text: str = ""
    next_href: str = ""
    prev_href: str = ""
    loaded: bool = False

    @rx.event
    async def load(self):
        try:
            caller = await self._enter("customer")
            await self._reload(caller)
        except DomainError as err:
            return self._turn_away(err)
        self._watch(f"customer:{caller.id}")

    async def _reload(self, caller: Identity | None = None) -> None:
        """The page the URL names (its cursor), read again."""
        cursor = self.router.url.query_parameters.get("cursor", "")
        caller = await self._caller_or(caller, "customer")
        page = await call(my_refunds.my_refunds, caller, cursor if isinstance(cursor, str) else "")
        self._update(
            rows=page.rows, count_text=page.count_text, loaded=True,
            next_href=PATH + "?" + urlencode({"cursor": page.next_cursor}) if page.next_cursor else "",
            prev_href=PATH + "?" + urlencode({"cursor": page.prev_cursor}) if page.prev_cursor else "",
        )

    def _showing(self) -> bool:
        return self.loaded
