from __future__ import annotations

import reflex as rx

from support_app.domain.errors import DomainError
from support_app.services import orders as order_service
from support_app.services.runner import call
from support_app.services.views import OrderView
from support_app.state.base import AppState


class OrdersState(AppState):
    orders: list[OrderView] = []
    loaded: bool = False
    load_error: str = ""

    @rx.event
    async def load(self):
        self.load_error = ""
        try:
            caller = await self._enter("customer")
            self.orders = await call(order_service.list_my_orders, caller)
            self.loaded = True
        except DomainError as err:
            self.load_error = err.message
            return self._turn_away(err)
