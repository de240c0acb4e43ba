"""One refund case: status, items, amounts, history; the customer may cancel."""

from __future__ import annotations

import reflex as rx

from support_app.domain.errors import DomainError
from support_app.services import refund_commands, refund_queries
from support_app.services.runner import call
from support_app.services.views import RefundDetail
from support_app.state.base import AppState


class RefundState(AppState):
    refund: RefundDetail | None = None
    load_error: str = ""
    _refund_id: str = ""

    async def _reload(self) -> None:
        caller = await self._caller()
        self.refund = await call(refund_queries.get_refund, caller, self._refund_id)

    @rx.event
    async def load(self):
        self.refund, self.load_error = None, ""
        self._refund_id = self.router.url.path.rstrip("/").rsplit("/", 1)[-1]
        try:
            await self._reload()
        except DomainError as err:
            self.load_error = err.message
            return self._fail(err)

    @rx.event
    async def poll(self, _tick: str = ""):
        if self.refund is None:
            return
        try:
            caller = await self._caller()
            if await call(refund_queries.refund_marker, caller, self._refund_id) != self.refund.version:
                await self._reload()
        except DomainError as err:
            return self._fail(err)

    @rx.event
    async def cancel(self):
        if self.busy or self.refund is None:
            return
        self.busy = True
        yield
        try:
            caller = await self._caller("customer")
            await call(refund_commands.cancel_refund, caller, self._refund_id, self.refund.version)
            await self._reload()
        except DomainError as err:
            yield self._fail(err)
            try:
                await self._reload()
            except DomainError:
                pass
            return
        self.busy = False
        yield rx.toast.success("Refund request cancelled")
