"""One refund case: status, items, amounts, history; the customer may cancel."""

from __future__ import annotations

import reflex as rx

from support_app.domain.errors import DomainError, ErrorCode
from support_app.domain.refund_decisions import REJECT_LABELS, SETTLEMENT_LABELS
from support_app.services import refund_commands, refund_queries, refund_review
from support_app.services.auth_service import Identity
from support_app.services.runner import call
from support_app.services.views import RefundDetail
from support_app.state.base import AppState
from support_app.state import toasts


REJECT_OPTIONS = [[r.value, label] for r, label in REJECT_LABELS.items()]
SETTLE_OPTIONS = [[s.value, label] for s, label in SETTLEMENT_LABELS.items()]


class RefundState(AppState):
    refund: RefundDetail | None = None
    load_error: str = ""
    _refund_id: str = ""

    async def _reload(self, caller: Identity | None = None) -> None:
        caller = await self._caller_or(caller)
        self.refund = await call(refund_queries.get_refund, caller, self._refund_id)

    @rx.event
    async def load(self):
        try:
            caller = await self._enter()  # first: a new sign-in in this tab resets every page state
            self.refund, self.load_error = None, ""
            self._refund_id = self.router.url.path.rstrip("/").rsplit("/", 1)[-1]
            await self._reload(caller)
            self._watch(f"refund:{self.refund.id}")
        except DomainError as err:
            self.load_error = err.message
            return self._turn_away(err)

    def _showing(self) -> bool:
        return self.refund is not None

    @rx.event
    async def cancel(self):
        async for update in self._decide(refund_commands.cancel_refund, success="Refund request cancelled", role="customer"):
            yield update

    async def _decide(self, fn, *args, success: str, role: str = "agent"):
        """Every action on this page. An approval or retry only commits the gateway
        attempt; a worker sends it, so no lock is held while the gateway answers; the
        outcome reaches open pages as a live update."""
        async for update in self._command(fn, *args, role=role, target=self._target,
                                          reread=self._reload, success=success):
            yield update

    def _target(self) -> tuple[str, int]:
        if self.refund is None:  # an action on a refund this tab does not show (any more)
            raise DomainError(ErrorCode.PAGE_STALE)
        return self._refund_id, self.refund.version

    @rx.event
    async def approve(self):
        async for update in self._decide(refund_review.approve_refund, success="Approved — sent to the payment gateway"):
            yield update

    @rx.event
    async def retry(self):
        async for update in self._decide(refund_review.retry_refund, success="Sent to the payment gateway again"):
            yield update

    @rx.event
    async def abandon(self):
        async for update in self._decide(refund_review.abandon_refund, success="Abandoned; the items are refundable again"):
            yield update

    @rx.event
    async def reject(self, form: dict):
        code, message = form.get("reject_code", ""), form.get("reject_message", "")
        async for update in self._decide(refund_review.reject_refund, code, message, success="Rejected; the customer was told why"):
            yield update

    @rx.event
    async def settle(self, form: dict):
        # The amount as typed: the domain reads it ("12,50" too) and answers under its field, with the others.
        args = (form.get("settle_type", ""), form.get("settle_amount", ""), form.get("settle_message", ""),
                form.get("settle_internal_note", ""))
        async for update in self._decide(refund_review.settle_refund, *args, success="Settlement recorded"):
            yield update

    @rx.event
    async def reconcile_now(self):
        """"Check with gateway now": the refund's open attempt is due at once; a worker asks."""
        try:
            caller = await self._caller("agent")
            if self.refund is None:
                raise DomainError(ErrorCode.PAGE_STALE)
            await call(refund_review.check_with_gateway, caller, self._refund_id)
        except DomainError as err:
            return self._fail(err)
        return toasts.info("Asking the payment gateway…")
