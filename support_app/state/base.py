"""Who is signed in, kept on the server.

The sign-in lives in an HttpOnly, SameSite=Strict cookie that only the server sets and
clears (api/auth.py); scripts on the page can neither read nor write it. The websocket
carries it in its handshake, which Reflex reads on the server (``router.headers``), so
it is never a State var. From it each tab opens its own refresh chain; the tab's
access and refresh tokens stay in backend vars (``_``-prefixed, never sent to the
browser). Every event handler asks ``_caller()`` first: the access token's signature
and the revocation list decide, with no database read; hiding a button is never the
access control.
"""

from __future__ import annotations

import logging
import re
import uuid
from http.cookies import CookieError, SimpleCookie
from urllib.parse import quote

import reflex as rx

from support_app import logs
from support_app.domain.errors import DomainError, ErrorCode
from support_app.live.changes import Change, made_by
from support_app.live.push import WATCHERS
from support_app.security.tokens import SESSION_COOKIE
from support_app.services import auth_service
from support_app.services.runner import call
from support_app.state import toasts

log = logging.getLogger(__name__)

SESSION_ENDED = {
    ErrorCode.NOT_AUTHENTICATED,
    ErrorCode.TOKEN_INVALID,
    ErrorCode.TOKEN_EXPIRED,
    ErrorCode.TOKEN_REVOKED,
    ErrorCode.TOKEN_REUSED,
}


REFUSED = {ErrorCode.FORBIDDEN, ErrorCode.NOT_CASE_OWNER, ErrorCode.NOT_ORDER_OWNER}


PAGE_FOR_OTHERS = {  # said when someone opens a page of the other role (and is taken home)
    "customer": "That page is for support agents. Here are your orders.",
    "agent": "That page is for customers. Here is your workspace.",
}


def home_for(role: str) -> str:
    return "/workspace" if role == "agent" else "/orders"


_SAFE_NEXT = re.compile(r"^/(?![/\\])[\x21-\x7e]{0,499}$")


def safe_next(path: str) -> str:
    """``path`` if it is a page of this site to return to after signing in, else ''.
    Only same-site absolute paths: never //host, /\\host, a scheme, or the API."""
    if not _SAFE_NEXT.match(path or "") or path.startswith(("/api/", "/login", "/_event")):
        return ""
    return path


def login_path(next_path: str = "") -> str:
    return "/login" + (f"?next={quote(next_path, safe='')}" if next_path and next_path != "/" else "")


def cookie_value(header: str, name: str) -> str:
    """One cookie from a Cookie header ('' when absent or unparsable)."""
    try:
        jar = SimpleCookie()
        jar.load(header or "")
    except CookieError:
        return ""
    morsel = jar.get(name)
    return morsel.value if morsel is not None else ""


class AppState(rx.State):
    _access_token: str = ""
    _refresh_token: str = ""
    _family: str = ""  # the sign-in this tab's state belongs to
    user_name: str = ""
    user_role: str = ""
    field_errors: dict[str, str] = {}
    busy: bool = False
    _ok: bool = False  # the last _command went through

    @rx.var
    def is_agent(self) -> bool:
        return self.user_role == "agent"

    @rx.var
    def signed_in(self) -> bool:
        return self.user_role != ""

    async def _caller(self, role: str | None = None) -> auth_service.Identity:
        """The signed-in user, proved by the tab's access token (renewed when needed)."""
        caller = None
        if self._access_token:
            try:
                caller = await auth_service.identify_async(self._access_token)
            except DomainError as err:
                if err.code not in SESSION_ENDED:
                    raise
                if err.code is not ErrorCode.TOKEN_EXPIRED:  # revoked: not just stale
                    await self._end_session()
                    raise
        if caller is None:
            caller = await self._renew()
        if "event_id" not in logs.context():
            logs.bind(event_id=uuid.uuid4().hex[:12], tab=self.router.session.client_token[:8], user=caller.id)
        if role is not None and caller.role != role:
            raise DomainError(ErrorCode.FORBIDDEN)
        return caller

    async def _renew(self) -> auth_service.Identity:
        """Rotate this tab's chain; a tab without one (or whose chain ran out) opens a
        new one from the sign-in cookie sent with the websocket handshake."""
        tab = None
        if self._refresh_token:
            try:
                tab = await call(auth_service.refresh, self._refresh_token)
            except DomainError as err:
                if err.code is not ErrorCode.TOKEN_EXPIRED:
                    await self._end_session()
                    raise
        if tab is None:
            cookie = cookie_value(self.router.headers.cookie, SESSION_COOKIE)
            if not cookie:
                await self._end_session()
                raise DomainError(ErrorCode.NOT_AUTHENTICATED)
            try:
                tab = await call(auth_service.open_tab, cookie, self.router.session.client_token)
            except DomainError:
                await self._end_session()
                raise
        if tab.family_id != self._family:
            await self._reset_pages()  # whatever this tab showed belonged to another sign-in
        self._access_token, self._refresh_token, self._family = tab.access_token, tab.refresh_token, tab.family_id
        self.user_name, self.user_role = tab.user.full_name, tab.user.role
        return auth_service.Identity(tab.user.id, tab.user.role, tab.family_id)

    async def _end_session(self) -> None:
        """The sign-in is over for this tab: nothing it showed may stay in its state."""
        if self._family or self._access_token or self.user_role:
            await self._reset_pages()

    async def _reset_pages(self) -> None:
        """Every page state of this tab back to its defaults, auth included, so the next
        hydrate sends nothing of the previous sign-in (with Redis, substates not yet
        loaded are loaded first: reset() only reaches loaded ones)."""
        for substate in self.get_substates():
            await self.get_state(substate)
        self.reset()

    def _fail(self, err: DomainError):
        """Map a domain error to what the person sees: field messages, a toast, or the sign-in page."""
        self.busy = False
        if err.code in SESSION_ENDED:
            return [toasts.warning(err.message), rx.redirect(login_path(self._here()))]
        if err.code in REFUSED:
            logs.security(log, "access_refused", "access refused: %s on %s", err.code.value, self.router.url.path[:120])
        self.field_errors = err.fields
        return toasts.error(err.message)

    def _here(self) -> str:
        """This page's path and query, to come back to after signing in."""
        url = self.router.url
        path = url.path.rstrip("/") or "/"  # the static server adds a slash to /orders
        return path + (f"?{url.query}" if url.query else "")

    def _clear_errors(self) -> None:
        self.field_errors = {}

    def _fresh_page(self) -> None:
        """A page load starts clean: a handler cut off by a closed tab or a reload
        must not leave every button of the next page disabled and spinning; and the
        previous page's live updates stop (this page watches its own, see _watch)."""
        self.busy = False
        self.field_errors = {}
        WATCHERS.drop(self.router.session.client_token)

    def _watch(self, *topics: str) -> None:
        """This tab shows these topics (``case:<id>``, ``refund:<id>``, ``customer:<id>``,
        ``cases``, ``refunds``): changes to them reach this state's ``_live_update``."""
        WATCHERS.watch(self.router.session.client_token, type(self), topics)

    async def _live_update(self, change: Change) -> None:
        """A watched topic changed (pushed, not an event of the tab): a page showing
        something (``_showing``) reads it again (``_reload``). A change customers cannot
        see (an internal note) must not reach them."""
        if not self._showing() or not self._sees(change):
            return
        try:
            await self._reload()
        except DomainError:
            pass  # the session ended or what the page shows went: the tab's next event says so

    def _update(self, **values) -> None:
        """Set these vars, leaving alone each one whose value is unchanged: Reflex sends
        (and, with Redis state, stores) every var assigned, equal or not, so a live update
        that finds a list as it was then sends the browser nothing and re-renders nothing."""
        for name, value in values.items():
            if self.get_value(name) != value:  # the stored value itself, not wrapped in a proxy to compare
                setattr(self, name, value)

    def _showing(self) -> bool:
        """Whether this page has loaded something a change could make stale."""
        return False

    async def _reload(self, caller: auth_service.Identity | None = None) -> None:
        """Read what this page shows again (pages that watch topics define it), for
        ``caller`` when this event already identified them (a load, a command)."""

    async def _caller_or(self, caller: auth_service.Identity | None, role: str | None = None) -> auth_service.Identity:
        """``caller`` as this event already identified them (checked for ``role`` again),
        or identified now: one token check and revocation lookup per event, not two."""
        if caller is None:
            return await self._caller(role)
        if role is not None and caller.role != role:
            raise DomainError(ErrorCode.FORBIDDEN)
        return caller

    async def _refresh(self):
        """Read the page again after the person changed what it shows (a filter, "show
        earlier messages"); a refusal is said to them."""
        try:
            await self._reload()
        except DomainError as err:
            return self._fail(err)

    def _sees(self, change: Change) -> bool:
        return self.user_role == "agent" or not change.internal

    async def _command(self, fn, *args, target, reread, role: str | None = None, success: str = "",
                       field_prefix: str = "", done: tuple = ()):
        """Every page action: identify, call one command service, read the page again,
        map the error. ``target()`` names what the command acts on and the version this
        tab saw, ``(id, version)``, or raises when the tab never showed it; ``reread(caller)``
        reads the page again, also after a refusal. Field messages go under
        ``field_prefix`` + name (the note box's "body" is "note_body"). ``_ok`` says
        whether it went through. ``done``: events that go out with the success update, in
        the same frame as the page read again (clearing the text box that was sent: a later
        frame would wipe what the person had begun to type next)."""
        self._ok = False
        if self.busy:
            return  # a double click: the first one is being handled
        try:
            caller = await self._caller(role)
            what, version = target()
        except DomainError as err:
            yield self._fail(err)
            return
        self._clear_errors()
        self.busy = True
        yield
        try:
            with made_by(self.router.session.client_token):  # this tab rereads now: no push of it to itself
                await call(fn, caller, what, *args, expected_version=version)
            await reread(caller)
        except DomainError as err:
            if field_prefix and err.fields:
                err = DomainError(err.code, err.message, {field_prefix + k: v for k, v in err.fields.items()})
            yield self._fail(err)
            try:
                await reread(caller)
            except DomainError:
                pass
            return
        self.busy, self._ok = False, True
        if success or done:
            yield [*([toasts.success(success)] if success else []), *done]

    @rx.event
    def clear_busy(self):
        """After a failure the framework reported: buttons work again."""
        self.busy = False

    async def _enter(self, role: str | None = None) -> auth_service.Identity:
        """The start of every page's load (one event per page, not a separate
        "require user" event before it): a clean page, and who is here."""
        self._fresh_page()
        return await self._caller(role)

    def _turn_away(self, err: DomainError):
        """A page load refused: strangers go to sign in (and come back afterwards),
        someone on a page not for their role goes home; anything else is shown."""
        if err.code in SESSION_ENDED:
            return rx.redirect(login_path(self._here()))
        if err.code is ErrorCode.FORBIDDEN and self.user_role:
            return [toasts.info(PAGE_FOR_OTHERS.get(self.user_role, "That page is not available to you.")),
                    rx.redirect(home_for(self.user_role))]
        return self._fail(err)
