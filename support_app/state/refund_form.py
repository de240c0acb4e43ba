"""The customer's "Request a refund" form (and the agent's "Record a settlement"):
bounded steppers and the reason priced live on the server, from the order as the form
read it; the notes and the settled amount stay in the browser until the form is sent."""

from __future__ import annotations

import secrets

import reflex as rx

from support_app.domain.errors import DomainError, ErrorCode
from support_app.domain.refund_decisions import SETTLEMENT_LABELS
from support_app.services import refund_commands, refund_queries
from support_app.services.runner import call
from support_app.services.views import RefundForm, RefundQuote
from support_app.state.base import AppState
from support_app.state import toasts

SETTLE_TYPE_OPTIONS = [[s.value, label] for s, label in SETTLEMENT_LABELS.items()]


class RefundFormState(AppState):
    form: RefundForm | None = None
    load_error: str = ""
    quantities: dict[str, int] = {}
    reason: str = ""
    mode: str = "request"  # "settle": an agent records a settlement for chosen items
    settle_type: str = ""
    total: str = ""
    shipping: str = ""
    problem: str = ""
    _case_id: str = ""
    _request_key: str = ""
    _pricing: refund_queries.RefundPricing | None = None  # what each choice is priced from, read with the form

    @rx.var
    def chosen_units(self) -> int:
        return sum(self.quantities.values())

    @rx.var
    def can_submit(self) -> bool:
        ready = self.chosen_units > 0 and self.reason != "" and self.problem == "" and not self.busy
        return ready and (self.mode == "request" or self.settle_type != "")

    @rx.var
    def submit_hint(self) -> str:
        """What the button still waits for, said next to it (a disabled button alone says nothing)."""
        if self.form is None or self.busy or self.problem:
            return ""
        if self.chosen_units == 0:
            return "Choose at least one item."
        if self.reason == "":
            return "Choose a reason."
        if self.mode == "settle" and self.settle_type == "":
            return "Choose how it was settled."
        return ""

    @property
    def _settling(self) -> bool:
        return self.mode == "settle"

    @rx.event
    async def load(self):
        parts = self.router.url.path.strip("/").split("/")  # cases/<id>/refund or cases/<id>/settle
        settling = parts[-1] == "settle"
        try:
            caller = await self._enter("agent" if settling else "customer")  # first: a new sign-in resets page states
            self.form, self._pricing, self.load_error, self.reason, self.problem = None, None, "", "", ""
            self._case_id = parts[1] if len(parts) >= 3 else ""
            self.mode = "settle" if settling else "request"
            self.settle_type = ""
            self._request_key = secrets.token_urlsafe(16)  # one submission of this form
            self.form, self._pricing = await call(refund_queries.refund_form, caller, self._case_id, self._settling)
        except DomainError as err:
            self.load_error = err.message
            return self._turn_away(err)
        self.quantities = {line.line_id: 0 for line in self.form.lines}
        self._show(self.form.quote)

    async def _price(self) -> None:
        """Price the choices from what the form read: no database read per click. The request
        is checked again, under the order's lock, when it is sent."""
        await self._caller("agent" if self._settling else "customer")
        if self._pricing is None:  # a choice on a form this tab does not show (any more)
            raise DomainError(ErrorCode.PAGE_STALE)
        self._show(refund_queries.quote(self._pricing, dict(self.quantities), self.reason))

    def _show(self, quote: RefundQuote) -> None:
        self.total, self.shipping, self.problem = quote.total, quote.shipping, quote.problem

    async def _step(self, line_id: str, delta: int):
        try:
            if self.form is None:  # a stepper of a form this tab does not show (any more)
                await self._caller("agent" if self._settling else "customer")
                raise DomainError(ErrorCode.PAGE_STALE)
            if line_id not in self.quantities:
                raise DomainError(ErrorCode.LINE_NOT_IN_ORDER)
            limit = next((ln.refundable_now for ln in self.form.lines if ln.line_id == line_id), 0)
            self.quantities[line_id] = max(0, min(limit, self.quantities[line_id] + delta))
            await self._price()
        except DomainError as err:
            return self._fail(err)

    @rx.event
    async def increment(self, line_id: str):
        return await self._step(str(line_id), 1)

    @rx.event
    async def decrement(self, line_id: str):
        return await self._step(str(line_id), -1)

    @rx.event
    async def set_reason(self, value: str):
        self.reason = str(value)
        try:
            await self._price()
        except DomainError as err:
            return self._fail(err)

    @rx.event
    def set_settle_type(self, value: str):
        self.settle_type = str(value)

    @rx.event
    async def submit(self, form: dict):
        """The form sent, its fields as typed (the services check each): a request's
        ``note``; a settlement's ``settle_amount``, ``settle_message`` (to the customer)
        and ``settle_internal_note``. (The names differ: Reflex adds each element's id
        to the form's data, and the request's note box has the id ``note``.)"""
        if self.busy:  # a double click: the first submission is on its way
            return
        self._clear_errors()
        self.busy = True
        yield
        chosen = {k: v for k, v in self.quantities.items() if v}
        try:
            if self._settling:
                caller = await self._caller("agent")
                # The amount as typed: the domain reads it ("12,50" too) and answers under its field, with the others.
                refund_id = await call(refund_commands.record_settlement, caller, self._case_id, chosen, self.reason,
                                       self.settle_type, form.get("settle_amount", ""), form.get("settle_message", ""),
                                       self._request_key, form.get("settle_internal_note", ""))
            else:
                caller = await self._caller("customer")
                refund_id = await call(refund_commands.request_refund, caller, self._case_id, chosen, self.reason,
                                       form.get("note", ""), self._request_key)
        except DomainError as err:
            yield self._fail(err)
            return
        self.busy = False
        done = "Settlement recorded" if self._settling else "Refund requested"
        yield [toasts.success(done), rx.redirect(f"/refunds/{refund_id}")]
