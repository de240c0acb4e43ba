"""Support and refund case overviews (agents; customers have My cases and My refunds). The URL carries every filter, the sort, the
page size and the page position, so a view can be shared and the back button works."""

from __future__ import annotations

from urllib.parse import urlencode

import reflex as rx

from support_app.domain.errors import DomainError, ErrorCode
from support_app.domain.overview_rules import STATUSES, parse_overview_query
from support_app.services import overview_queries
from support_app.services.auth_service import Identity
from support_app.services.exports import export_link
from support_app.services.overview_views import RefundOverviewRow, SupportOverviewRow
from support_app.services.runner import call
from support_app.state import toasts
from support_app.state.base import AppState

PATHS = {"support": "/overview/cases", "refund": "/overview/refunds"}
CUSTOMER_ELSEWHERE = ("The case and refund overviews are for support agents. "
                      "Your own cases are under My cases, your refunds under My refunds.")
FILTER_FIELDS = ("date_from", "date_to", "customer", "order_id", "assignee", "priority", "category", "reason", "amount_min", "amount_max",
                 "currency", "q", "sort", "direction", "size")


class OverviewState(AppState):
    kind: str = "support"
    cases: list[SupportOverviewRow] = []
    refunds: list[RefundOverviewRow] = []
    params: dict[str, str] = {}
    statuses: list[str] = []
    count_text: str = ""
    next_href: str = ""
    prev_href: str = ""
    problems: dict[str, str] = {}
    loaded: bool = False

    def _href(self, params: dict[str, str]) -> str:
        return PATHS[self.kind] + ("?" + urlencode(params) if params else "")

    @rx.event
    async def load(self):
        try:
            await self._reload(await self._enter("agent"))
        except DomainError as err:
            if err.code is ErrorCode.FORBIDDEN and self.user_role == "customer":
                # Agents' tools: a customer is told where her own lists are, not shown them.
                mine = "/cases" if self.router.url.path.rstrip("/").endswith("/cases") else "/my/refunds"
                return [toasts.info(CUSTOMER_ELSEWHERE), rx.redirect(mine)]
            return self._turn_away(err)
        self._watch("cases" if self.kind == "support" else "refunds")

    def _showing(self) -> bool:
        return self.loaded

    async def _reload(self, caller: Identity | None = None):
        """The page the URL names, read again."""
        kind = "refund" if self.router.url.path.rstrip("/").endswith("/refunds") else "support"
        self._update(kind=kind)  # before the links below, which are built on it
        query = parse_overview_query(dict(self.router.url.query_parameters), kind)  # type: ignore[arg-type]
        service = overview_queries.support_case_overview if kind == "support" else overview_queries.refund_case_overview
        caller = await self._caller_or(caller, "agent")
        page = await call(service, caller, query)
        base = query.to_params(cursor="")
        self._update(
            loaded=True, params=base, statuses=list(query.statuses),
            cases=page.rows if kind == "support" else [], refunds=page.rows if kind == "refund" else [],
            count_text=page.count_text, problems={**query.problems, **page.problems},
            next_href=self._href({**base, "cursor": page.next_cursor}) if page.next_cursor else "",
            prev_href=self._href({**base, "cursor": page.prev_cursor}) if page.prev_cursor else "",
        )
        return caller

    @rx.event
    def apply(self, form: dict):
        """The filter form: back into the URL, which reloads the page."""
        params = {name: str(form.get(name, "")).strip() for name in FILTER_FIELDS if str(form.get(name, "")).strip()}
        chosen = [s for s in STATUSES[self.kind] if form.get(f"status_{s}") in (True, "on", "true")]
        if chosen:
            params["status"] = ",".join(chosen)
        return rx.redirect(self._href(params))

    @rx.event
    def clear(self):
        return rx.redirect(PATHS[self.kind])

    @rx.event
    async def export(self):
        try:
            caller = await self._caller("agent")
        except DomainError as err:
            return self._fail(err)
        return rx.download(url=export_link(caller, "cases" if self.kind == "support" else "refunds", self.params))
