"""Case lists: the customer's own cases, and the agents' queue. Both update live (pushed)."""

from __future__ import annotations

import reflex as rx

from support_app.domain.errors import DomainError
from support_app.services import case_queries
from support_app.services.auth_service import Identity
from support_app.services.runner import call
from support_app.services.views import CaseRow
from support_app.state.base import AppState


class CasesState(AppState):
    rows: list[CaseRow] = []
    status_filter: str = "active"
    assigned_to_me: bool = False
    loaded: bool = False

    def _statuses(self) -> list[str]:
        if self.status_filter == "active":
            return ["open", "in_progress", "waiting_on_customer"]
        return [] if self.status_filter == "all" else [self.status_filter]

    async def _reload(self, caller: Identity | None = None) -> None:
        caller = await self._caller_or(caller)
        self._update(rows=await call(case_queries.list_cases, caller, self._statuses(), self.assigned_to_me), loaded=True)
        self._watch("cases" if caller.role == "agent" else f"customer:{caller.id}")

    @rx.event
    async def load(self):
        try:
            caller = await self._enter("agent" if self.router.url.path.rstrip("/").endswith("/queue") else None)
            await self._reload(caller)
        except DomainError as err:
            return self._turn_away(err)

    @rx.event
    async def set_status_filter(self, value: str):
        self.status_filter = value
        return await self._refresh()

    @rx.event
    async def toggle_mine(self, value: bool):
        self.assigned_to_me = bool(value)
        return await self._refresh()

    def _showing(self) -> bool:
        return self.loaded
