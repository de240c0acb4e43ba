"""POST /api/auth/login and POST /api/auth/logout: the only places the sign-in cookie
is set and cleared.

The sign-in page is a plain HTML form posting here, so the password never travels
through the websocket or a page's state, and the answer can set the session cookie
HttpOnly (no script can read it), SameSite=Strict (no other site's request carries
it) and Secure outside development. Both answer 303 to a page: the next page load
opens a websocket whose handshake carries the new cookie (or none).

Cross-site form posts are refused by Origin: a login forced from another site would
sign the victim into the attacker's account. Bodies are read up to a small bound.
"""

from __future__ import annotations

import asyncio
import logging
import re
from urllib.parse import parse_qs, urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from support_app import logs
from support_app.domain.errors import DomainError, ErrorCode
from support_app.security.client_ip import client_ip
from support_app.services import auth_service
from support_app.services.runner import run_sync
from support_app.settings import get_settings
from support_app.security.tokens import SESSION_COOKIE
from support_app.state.base import home_for, safe_next
from support_app.state.session_reset import reset_tabs

log = logging.getLogger(__name__)
MAX_FORM_BYTES = 8 * 1024
EMAIL_COOKIE = "sr_login_email"  # the email typed, kept two minutes so a retry need not retype it
_TAB = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")  # a Reflex client token


def _secure() -> bool:
    return get_settings().environment != "development"


def _same_origin(request: Request) -> bool:
    """The form was posted by a page of this site (Origin, else Referer, names our host)."""
    source = request.headers.get("origin") or request.headers.get("referer") or ""
    host = request.headers.get("host", "")
    return bool(source) and source != "null" and urlsplit(source).netloc == host


async def _form(request: Request) -> dict[str, str] | None:
    """The url-encoded form, or None when it is too big or not a form."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        return None
    return {k: v[0] for k, v in fields.items()}


def _back_to_login(code: str, next_path: str, email: str = "", wait: str = "") -> Response:
    query = {"error": code, **({"next": next_path} if next_path else {}), **({"wait": wait} if wait else {})}
    response = RedirectResponse("/login?" + urlencode(query), status_code=303)
    if email:
        response.set_cookie(EMAIL_COOKIE, email[:254], max_age=120, httponly=True, samesite="strict",
                            secure=_secure(), path="/")
    return response


async def login(request: Request) -> Response:
    if not _same_origin(request):
        return PlainTextResponse("Sign-in must come from this site's sign-in page.", status_code=403)
    form = await _form(request)
    if form is None:
        return _back_to_login(ErrorCode.VALIDATION_FAILED.value, "")
    email, password = form.get("email", "").strip(), form.get("password", "")
    next_path, tab = safe_next(form.get("next", "")), form.get("tab", "")
    tab = tab if _TAB.match(tab) else ""
    try:
        result = await asyncio.to_thread(auth_service.sign_in, email, password, client_ip(request))
    except DomainError as err:
        if err.code is not ErrorCode.SERVICE_BUSY:  # busy is no refusal: the runner logged it as an operational warning
            logs.security(log, "sign_in_refused", "sign-in refused: %s", err.code.value, client=client_ip(request))
        return _back_to_login(err.code.value, next_path, email, err.fields.get("retry_after", ""))
    if tab:
        await reset_tabs({tab})  # nothing of whatever this tab showed before survives the sign-in
    response = RedirectResponse(next_path or home_for(result.user.role), status_code=303)
    response.set_cookie(SESSION_COOKIE, result.session_token, max_age=int(auth_service.session_lifetime(
        result.user.role).total_seconds()), httponly=True, samesite="strict", secure=_secure(), path="/")
    response.delete_cookie(EMAIL_COOKIE, path="/")
    return response


async def logout(request: Request) -> Response:
    if not _same_origin(request):
        return PlainTextResponse("Sign-out must come from this site.", status_code=403)
    token = request.cookies.get(SESSION_COOKIE, "")
    # Every tab that opened from this sign-in, wherever it is; nothing else.
    await reset_tabs(await asyncio.to_thread(run_sync, auth_service.sign_out, token) if token else set())
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=_secure())
    return response


routes = [
    Route("/api/auth/login", login, methods=["POST"]),
    Route("/api/auth/logout", logout, methods=["POST"]),
]
