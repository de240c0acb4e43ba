from __future__ import annotations

import reflex as rx

from support_app.domain.errors import DomainError
from support_app.services import metrics as metrics_service
from support_app.services.runner import call
from support_app.services.metrics import CurrencyRefunds, OldItem
from support_app.state.base import AppState


class MetricsState(AppState):
    per_day: list[dict] = []
    by_reason: list[dict] = []
    median_first_response: str = ""
    median_resolution: str = ""
    median_approve_to_refunded: str = ""
    refunded: list[CurrencyRefunds] = []  # per currency: never summed across currencies
    oldest: list[OldItem] = []
    days: int = 30
    loaded: bool = False

    @rx.event
    async def load(self):
        try:
            caller = await self._enter("agent")
            m = await call(metrics_service.metrics, caller, self.days)
        except DomainError as err:
            return self._turn_away(err)
        self.per_day, self.by_reason, self.oldest = m.per_day, m.by_reason, m.oldest
        self.median_first_response, self.median_resolution = m.median_first_response_hours, m.median_resolution_hours
        self.median_approve_to_refunded, self.refunded = m.median_approve_to_refunded_seconds, m.refunded
        self.loaded = True

    @rx.event
    async def set_days(self, value: str):
        self.days = int(value) if str(value).isdigit() else 30
        return await self.load()
