"""The Metrics page. The period is in the URL (``/metrics?days=30``), so a view can be
shared and the back button works; the charts are drawn from the load's data."""

from __future__ import annotations

import reflex as rx

from support_app.domain.errors import DomainError
from support_app.services import metrics as metrics_service
from support_app.services.metrics import CurrencyRefunds, OldItem
from support_app.services.runner import call
from support_app.state.base import AppState

PERIODS = (7, 30, 90)
DEFAULT_DAYS = 30


def period(value: object) -> int:
    """A period offered on the page, from untrusted text; the default otherwise."""
    text = value if isinstance(value, str) else ""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 3 and int(text) in PERIODS else DEFAULT_DAYS


class MetricsState(AppState):
    per_day: list[dict] = []
    by_reason: list[dict] = []
    median_first_response: str = ""
    median_resolution: str = ""
    median_approve_to_refunded: str = ""
    refunded: list[CurrencyRefunds] = []  # per currency: never summed across currencies
    oldest: list[OldItem] = []
    days: int = DEFAULT_DAYS
    loaded: bool = False

    @rx.event
    async def load(self):
        days = period(self.router.url.query_parameters.get("days", ""))
        try:
            caller = await self._enter("agent")
            m = await call(metrics_service.metrics, caller, days)
        except DomainError as err:
            return self._turn_away(err)
        self.days = days
        self.per_day, self.by_reason, self.oldest = m.per_day, m.by_reason, m.oldest
        self.median_first_response, self.median_resolution = m.median_first_response, m.median_resolution
        self.median_approve_to_refunded, self.refunded = m.median_approve_to_refunded, m.refunded
        self.loaded = True

    @rx.event
    async def set_days(self, value: str):
        """The period picker: into the URL, which loads the page for it (agents only, as the page)."""
        try:
            await self._caller("agent")
        except DomainError as err:
            return self._fail(err)
        return rx.redirect(f"/metrics?days={period(value)}")
