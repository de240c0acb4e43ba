"""The sign-in page: a plain form posting to /api/auth/login (api/auth.py).

This state only prepares the page: where to go afterwards, why the last attempt was
refused, and the email typed then. It never sees the password.
"""

from __future__ import annotations

import reflex as rx

from support_app.domain.errors import MESSAGES, DomainError, ErrorCode
from support_app.state.base import AppState, cookie_value, home_for, safe_next

EMAIL_COOKIE = "sr_login_email"


def refusal_text(code: str, wait: str) -> str:
    """What the sign-in page says about a refused attempt (codes from the URL: untrusted)."""
    try:
        error = ErrorCode(code)
    except ValueError:
        return ""
    if error is ErrorCode.RATE_LIMITED and wait.isascii() and wait.isdigit() and 0 < int(wait) <= 86400:
        seconds = int(wait)
        span = f"{-(-seconds // 60)} minute(s)" if seconds >= 90 else f"{seconds} second(s)"
        return f"Too many failed sign-in attempts. Please wait {span} and try again."
    if error is ErrorCode.VALIDATION_FAILED:
        return "Enter your email and password."
    if error is ErrorCode.SERVICE_BUSY:
        return "We are very busy right now and could not sign you in. Please try again in a moment."
    return MESSAGES[error] if error in (ErrorCode.INVALID_CREDENTIALS, ErrorCode.RATE_LIMITED) else ""


class LoginState(AppState):
    error: str = ""
    email: str = ""
    next_path: str = ""

    @rx.event
    async def prepare(self):
        """on_load of /login: someone signed in goes on; otherwise the form is set up."""
        self._fresh_page()
        query = self.router.url.query_parameters
        self.next_path = str(query.get("next", ""))[:500]
        self.error = refusal_text(str(query.get("error", "")), str(query.get("wait", "")))
        self.email = cookie_value(self.router.headers.cookie, EMAIL_COOKIE)[:254]
        try:
            caller = await self._caller()
        except DomainError:
            return None
        return rx.redirect(safe_next(self.next_path) or home_for(caller.role))

    @rx.event
    async def go_home(self):
        """The root page sends each person to their home, or to sign in."""
        try:
            caller = await self._caller()
        except DomainError:
            return rx.redirect("/login")
        return rx.redirect(home_for(caller.role))
