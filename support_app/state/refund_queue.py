"""The agents' refund queue: oldest first, counts per status, refreshed live."""

from __future__ import annotations

import reflex as rx

from support_app.domain.errors import DomainError
from support_app.services import refund_queue
from support_app.services.auth_service import Identity
from support_app.services.runner import call
from support_app.services.views import Option, RefundQueueRow
from support_app.state.base import AppState


class RefundQueueState(AppState):
    rows: list[RefundQueueRow] = []
    counts: list[Option] = []
    attention: list[RefundQueueRow] = []  # the gateway's answer did not match: shown whatever the filter
    status_filter: str = "requested"
    loaded: bool = False

    async def _reload(self, caller: Identity | None = None) -> None:
        caller = await self._caller_or(caller, "agent")
        queue = await call(refund_queue.refund_queue, caller, "" if self.status_filter == "all" else self.status_filter)
        self._update(rows=queue.rows, counts=queue.counts, attention=queue.attention, loaded=True)
        self._watch("refunds")

    @rx.event
    async def load(self):
        try:
            await self._reload(await self._enter("agent"))
        except DomainError as err:
            return self._turn_away(err)

    @rx.event
    async def set_status_filter(self, value: str):
        self.status_filter = str(value)
        return await self._refresh()

    def _showing(self) -> bool:
        return self.loaded
