from __future__ import annotations

import reflex as rx

from support_app.domain.case_rules import CATEGORY_LABELS, Priority
from support_app.domain.errors import DomainError, ErrorCode
from support_app.services import case_commands
from support_app.services import orders as order_service
from support_app.services.runner import call
from support_app.services.views import OrderView
from support_app.state.base import AppState
from support_app.state import toasts

CATEGORY_OPTIONS = [[c.value, label] for c, label in CATEGORY_LABELS.items()]
PRIORITY_OPTIONS = [p.value for p in Priority]


class NewCaseState(AppState):
    order: OrderView | None = None
    order_error: str = ""

    @rx.event
    async def load(self):
        self.order, self.order_error = None, ""
        order_id = self.router.url.query_parameters.get("order", "")
        try:
            caller = await self._enter("customer")
            self.order = await call(order_service.get_my_order, caller, order_id)
        except DomainError as err:
            self.order_error = err.message
            return self._turn_away(err)

    @rx.event
    async def submit(self, form: dict):
        if self.busy:  # a double click sends the form twice; the first one wins
            return
        self._clear_errors()
        self.busy = True
        yield
        try:
            caller = await self._caller("customer")
            if self.order is None:  # the form of an order this tab does not show (any more)
                raise DomainError(ErrorCode.PAGE_STALE)
            case_id = await call(
                case_commands.create_case,
                caller,
                self.order.order_id,
                str(form.get("subject", "")),
                str(form.get("description", "")),
                str(form.get("category", "")),
                str(form.get("priority", "normal")),
            )
        except DomainError as err:
            yield self._fail(err)
            return
        self.busy = False
        yield [toasts.success("Your case is open. We will get back to you soon."), rx.redirect(f"/cases/{case_id}")]
