from __future__ import annotations

import reflex as rx

from support_app.domain.errors import DomainError
from support_app.services import auth_service
from support_app.services.runner import call
from support_app.state.base import AppState


def home_for(role: str) -> str:
    return "/queue" if role == "agent" else "/orders"


class LoginState(AppState):
    error: str = ""

    @rx.event
    async def redirect_if_signed_in(self):
        if self.refresh_cookie or self._access_token:
            try:
                user = await self._caller()
            except DomainError:
                self._forget()
                return None
            return rx.redirect(home_for(user.role))
        return None

    @rx.event
    async def go_home(self):
        """The root page sends each person to their home, or to sign in."""
        try:
            user = await self._caller()
        except DomainError:
            self._forget()
            return rx.redirect("/login")
        return rx.redirect(home_for(user.role))

    @rx.event
    async def submit(self, form: dict):
        self.error = ""
        self.busy = True
        yield
        client = self.router.session.client_ip or "unknown"
        try:
            result = await call(
                auth_service.sign_in, str(form.get("email", "")), str(form.get("password", "")), client
            )
        except DomainError as err:
            self.busy = False
            self.error = err.message
            return
        self._remember(result)
        self.busy = False
        yield rx.redirect(home_for(result.user.role))
