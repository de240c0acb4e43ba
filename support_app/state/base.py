"""Who is signed in, kept on the server.

The access token lives only in a backend var (``_access_token``, never sent to the
browser). The browser keeps what it must to stay signed in across tabs and reloads:
the rotating refresh token in a SameSite=Strict cookie. Every event handler asks
``_caller()`` first, which re-checks the token, its revocation and the user's role
on the server; hiding a button is never the access control.
"""

from __future__ import annotations

import logging

import reflex as rx

from support_app.domain.errors import DomainError, ErrorCode
from support_app.services import auth_service
from support_app.services.runner import call
from support_app.settings import get_settings

log = logging.getLogger(__name__)

REFRESH_COOKIE = "sr_refresh"
SESSION_ENDED = {
    ErrorCode.NOT_AUTHENTICATED,
    ErrorCode.TOKEN_INVALID,
    ErrorCode.TOKEN_EXPIRED,
    ErrorCode.TOKEN_REVOKED,
    ErrorCode.TOKEN_REUSED,
}


class AppState(rx.State):
    refresh_cookie: str = rx.Cookie(
        "",
        name=REFRESH_COOKIE,
        same_site="strict",
        max_age=get_settings().refresh_token_days * 86400,
        secure=get_settings().environment == "production",
    )
    _access_token: str = ""
    _refresh_token: str = ""
    user_name: str = ""
    user_role: str = ""
    field_errors: dict[str, str] = {}
    busy: bool = False

    @rx.var
    def is_agent(self) -> bool:
        return self.user_role == "agent"

    @rx.var
    def signed_in(self) -> bool:
        return self.user_role != ""

    async def _caller(self, role: str | None = None) -> auth_service.UserView:
        """The signed-in user, re-checked on the server; refreshes an expired access token."""
        user = None
        if self._access_token:
            try:
                user = await call(auth_service.identify, self._access_token)
            except DomainError as err:
                if err.code not in SESSION_ENDED:
                    raise
        if user is None:
            user = await self._refresh()
        if role is not None and user.role != role:
            raise DomainError(ErrorCode.FORBIDDEN)
        return user

    async def _refresh(self) -> auth_service.UserView:
        """This tab rotates its own refresh chain; a new tab forks one from the cookie."""
        try:
            if self._refresh_token:
                result = await call(auth_service.refresh, self._refresh_token)
                self._access_token, self._refresh_token = result.access_token, result.refresh_token
            elif self.refresh_cookie:
                result = await call(auth_service.refresh, self.refresh_cookie, fork=True)
                self._remember(result)
            else:
                raise DomainError(ErrorCode.NOT_AUTHENTICATED)
        except DomainError:
            self._forget()
            raise
        self.user_name, self.user_role = result.user.full_name, result.user.role
        return result.user

    def _remember(self, result: auth_service.AuthResult) -> None:
        """After sign-in or a fork: cookie chain for new tabs, tab chain on the server."""
        self._access_token = result.access_token
        self._refresh_token = result.tab_refresh_token
        self.refresh_cookie = result.refresh_token
        self.user_name = result.user.full_name
        self.user_role = result.user.role

    def _forget(self) -> None:
        self._access_token = ""
        self._refresh_token = ""
        self.refresh_cookie = ""
        self.user_name = ""
        self.user_role = ""

    def _fail(self, err: DomainError):
        """Map a domain error to what the person sees: field messages, a toast, or the sign-in page."""
        self.busy = False
        if err.code in SESSION_ENDED:
            self._forget()
            return [rx.toast.warning(err.message), rx.redirect("/login")]
        self.field_errors = err.fields
        return rx.toast.error(err.message)

    def _clear_errors(self) -> None:
        self.field_errors = {}

    def _fresh_page(self) -> None:
        """A page load starts clean: a handler cut off by a closed tab or a reload
        must not leave every button of the next page disabled and spinning."""
        self.busy = False
        self.field_errors = {}

    @rx.event
    async def require_user(self):
        """on_load of every signed-in page: send strangers to the sign-in page."""
        self._fresh_page()
        try:
            await self._caller()
        except DomainError as err:
            if err.code in SESSION_ENDED or err.code is ErrorCode.FORBIDDEN:
                self._forget()
                return rx.redirect("/login")
            raise

    @rx.event
    async def require_agent(self):
        """on_load of agent pages: a customer is sent to their own home instead."""
        self._fresh_page()
        try:
            await self._caller("agent")
        except DomainError as err:
            if err.code is ErrorCode.FORBIDDEN:
                return rx.redirect("/orders")
            self._forget()
            return rx.redirect("/login")

    @rx.event
    async def sign_out(self):
        try:
            await call(auth_service.sign_out, self._access_token or None, self._refresh_token or self.refresh_cookie or None)
        except DomainError as err:  # already signed out or expired: nothing left to revoke
            log.info("sign-out with an ended session: %s", err.code)
        self._forget()
        return rx.redirect("/login")
