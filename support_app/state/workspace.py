"""The agents' workspace: queue, conversation and sidebar on one screen, kept live.

The URL names the selection and the filters (/workspace?case=<id>&scope=&status=&priority=)
so a link opens it; handlers that change them rewrite the address in place. Reading
and writing go through the services (workspace_queries, workspace_commands,
case_commands, refund_review); nothing here builds SQL.
"""

from __future__ import annotations

import asyncio
import json
import logging
from urllib.parse import urlencode

import reflex as rx

from support_app.domain.case_rules import STATUS_LABELS
from support_app.domain.errors import DomainError, ErrorCode
from support_app.domain.priorities import PRIORITY_LABELS
from support_app.live.changes import Change
from support_app.security.inputs import record_id
from support_app.services import case_commands, refund_review, workspace_commands, workspace_queries
from support_app.services.runner import call
from support_app.services.workspace_queries import PRIORITY_FILTERS, SCOPES, STATUS_FILTERS
from support_app.services.workspace_views import QueueItem, WorkspaceCase
from support_app.state import toasts
from support_app.state.base import AppState

log = logging.getLogger(__name__)
MODES = ("reply", "note")
MAX_PARAM = 32
# The filters' choices: the values the service accepts, named as the domain names them.
_STATUS_WORDS: dict[str, str] = {"active": "Active", "all": "Any status", **STATUS_LABELS}
_PRIORITY_WORDS: dict[str, str] = {"": "Any priority", **PRIORITY_LABELS}
STATUS_OPTIONS = [(value, _STATUS_WORDS[value]) for value in STATUS_FILTERS]
PRIORITY_OPTIONS = [(value, _PRIORITY_WORDS[value]) for value in PRIORITY_FILTERS]


def _param(value: object) -> str:
    return value if isinstance(value, str) and len(value) <= MAX_PARAM else ""


_MARKING: set[asyncio.Task] = set()  # marks being written (referenced until done)


def _mark_later(caller, case_id: str, leaving: str) -> None:
    """Move the agent's marks without holding up the page; a failure only leaves a case
    marked unread, so it is logged, not shown."""
    task = asyncio.create_task(call(workspace_queries.mark_seen, caller, case_id, leaving))
    _MARKING.add(task)
    task.add_done_callback(_marked)


def _marked(task: asyncio.Task) -> None:
    _MARKING.discard(task)
    if not task.cancelled() and (err := task.exception()) is not None:
        log.warning("workspace: the agent's marks did not move (%s)", type(err).__name__)


class WorkspaceState(AppState):
    rows: list[QueueItem] = []
    selected: WorkspaceCase | None = None
    scope: str = "all"
    status_filter: str = "active"
    priority_filter: str = ""
    compose_mode: str = "reply"
    reject_for: str = ""  # the refund whose reject dialog is open: it stays open until the rejection goes through
    loaded: bool = False
    load_error: str = ""
    _case_id: str = ""
    _all_messages: bool = False  # "Show N earlier messages" was clicked on the open case

    @rx.var
    def selected_id(self) -> int:
        return self.selected.case.id if self.selected else 0

    # -- reading ---------------------------------------------------------------

    async def _read_queue(self, caller) -> None:
        rows = await call(workspace_queries.queue, caller, self.scope, self.status_filter, self.priority_filter)
        for i in self._unread_open_row(rows):
            rows[i].unread = False
        self._update(rows=rows)

    async def _open(self, caller, case_id: object) -> None:
        """The agent picks a case: it is read (a plain read), shown and watched. This agent's
        marks on it and on the case left move in a short write of their own that the click
        does not wait for: on SQLite it would queue behind every other writer (j / k through
        the queue went at the pace of the busiest writer)."""
        leaving = self._case_id
        self._show(await call(workspace_queries.workspace_case, caller, case_id))
        self._all_messages = False  # a case opens on its newest messages
        _mark_later(caller, self._case_id, leaving)

    async def _reread(self, caller) -> None:
        """Read the open case again (live update, after an action): a plain read, no mark."""
        self._show(await call(workspace_queries.workspace_case, caller, self._case_id, self._all_messages))

    def _show(self, selected: WorkspaceCase) -> None:
        self.selected = selected
        self._case_id = str(selected.case.id)
        for i in self._unread_open_row(self.get_value("rows")):
            self.rows[i].unread = False  # through the state: the row is sent again
        self._watch("cases", "refunds", f"case:{self._case_id}")

    def _unread_open_row(self, rows: list[QueueItem]) -> list[int]:
        """Where the open case's row still carries the unread mark: it is being looked at.
        ``rows`` is a plain list (``get_value``): reading a state list through ``self``
        wraps every row and field read in a proxy (7 % of a workspace load's CPU, measured)."""
        opened = self.get_value("selected")
        return [i for i, row in enumerate(rows) if opened is not None and row.id == opened.case.id and row.unread]

    def _address(self):
        query = {"case": self._case_id, "scope": self.scope, "status": self.status_filter, "priority": self.priority_filter}
        url = "/workspace?" + urlencode({k: v for k, v in query.items() if v})
        return rx.call_script(f"window.history.replaceState(window.history.state, '', {json.dumps(url)})")

    @rx.event
    async def load(self):
        try:
            caller = await self._enter("agent")
            params = self.router.url.query_parameters
            scope, status, priority = _param(params.get("scope")), _param(params.get("status")), _param(params.get("priority"))
            self.scope = scope if scope in SCOPES else "all"
            self.status_filter = status if status in STATUS_FILTERS else "active"
            self.priority_filter = priority if priority in PRIORITY_FILTERS else ""
            self.selected, self._case_id, self.load_error, self.compose_mode = None, "", "", "reply"
            self.reject_for = ""
            await self._read_queue(caller)
            self.loaded = True
            self._watch("cases", "refunds")
            wanted = _param(params.get("case"))
            if wanted:
                await self._open(caller, wanted)
        except DomainError as err:
            self.load_error = err.message if err.code is ErrorCode.CASE_NOT_FOUND else ""
            return self._turn_away(err)

    async def _live_update(self, change: Change) -> None:
        if not self.loaded:
            return
        try:
            caller = await self._caller("agent")
            if self.selected is not None and (self.selected.case.id in change.cases):
                await self._reread(caller)
            await self._read_queue(caller)
        except DomainError:
            pass  # the session ended or the case went: the tab's next event says so

    @rx.event
    async def show_earlier_messages(self):
        try:
            caller = await self._caller("agent")
            self._all_messages = True
            await self._reread(caller)
        except DomainError as err:
            return self._fail(err)

    # -- selection and filters -------------------------------------------------

    async def _select(self, case_id: object):
        try:
            caller = await self._caller("agent")
            await self._open(caller, case_id)
        except DomainError as err:
            return self._fail(err)
        self.compose_mode, self.reject_for = "reply", ""
        return [rx.set_value("ws-draft", ""), self._address()]

    @rx.event
    async def select_case(self, value: str):
        return await self._select(value)

    async def _step(self, offset: int):
        ids = [row.id for row in self.get_value("rows")]
        if not ids:
            try:
                await self._caller("agent")
            except DomainError as err:
                return self._fail(err)
            return toasts.info("No cases match these filters.")
        current = self.selected.case.id if self.selected else None
        if current in ids:
            index = min(max(ids.index(current) + offset, 0), len(ids) - 1)
        else:
            index = 0 if offset > 0 else len(ids) - 1
        return await self._select(ids[index])

    @rx.event
    async def next_case(self):
        return await self._step(1)

    @rx.event
    async def previous_case(self):
        return await self._step(-1)

    async def _filter(self, name: str, value: object, allowed: tuple[str, ...]):
        try:
            caller = await self._caller("agent")
            if not isinstance(value, str) or value not in allowed:
                raise DomainError(ErrorCode.VALIDATION_FAILED, "That filter is not available.")
            setattr(self, name, value)
            await self._read_queue(caller)
        except DomainError as err:
            return self._fail(err)
        return self._address()

    @rx.event
    async def set_scope(self, value: str):
        return await self._filter("scope", value, SCOPES)

    @rx.event
    async def set_status_filter(self, value: str):
        return await self._filter("status_filter", value, STATUS_FILTERS)

    @rx.event
    async def set_priority_filter(self, value: str):
        return await self._filter("priority_filter", value, PRIORITY_FILTERS)

    @rx.event
    async def set_compose_mode(self, value: str):
        try:
            await self._caller("agent")
            if value not in MODES:
                raise DomainError(ErrorCode.VALIDATION_FAILED, "Choose a reply or an internal note.")
        except DomainError as err:
            return self._fail(err)
        self.compose_mode = value

    # -- acting on the open case -----------------------------------------------

    async def _act(self, fn, *args, success: str, refund_id: object = None, done: tuple = ()):
        """One command on the open case (or on one of its refunds, with that refund's
        version); the case and the queue are read again."""
        def target() -> tuple[str, int]:
            if self.selected is None:  # an action on a case this tab does not show (any more)
                raise DomainError(ErrorCode.PAGE_STALE)
            if refund_id is None:
                return self._case_id, self.selected.case.version
            return str(refund_id), self._refund_version(refund_id)

        async def reread(caller) -> None:
            await self._reread(caller)
            await self._read_queue(caller)

        async for update in self._command(fn, *args, role="agent", target=target, reread=reread, success=success,
                                          done=done):
            yield update

    def _refund_version(self, refund_id: object) -> int:
        """The version of a refund of the open case; anything else is not found here."""
        for refund in self.selected.refunds if self.selected else ():
            if str(refund.id) == refund_id:
                return refund.version
        raise DomainError(ErrorCode.REFUND_NOT_FOUND)

    @rx.event
    async def send(self, form: dict):
        """The composer: a reply, or an internal note, as its switch says."""
        note = self.compose_mode == "note"
        async for update in self._act(case_commands.add_message, form.get("body", ""), note,
                                      success="Internal note added" if note else "Reply sent",
                                      done=(rx.set_value("ws-draft", ""),)):
            yield update

    @rx.event
    async def resolve(self):
        async for update in self._act(workspace_commands.resolve, success="Case resolved"):
            yield update

    @rx.event
    async def assign(self, value: str):
        """Assign the open case to an agent (their id), or to nobody ("")."""
        assignee = record_id(value)  # "" is no id: nobody
        if assignee is None and value != "":
            assignee = -1  # nobody's id: the service answers "user not found"
        async for update in self._act(case_commands.assign, assignee, success="Assigned" if assignee else "Unassigned"):
            yield update

    @rx.event
    async def approve(self, value: str):
        async for update in self._act(refund_review.approve_refund, refund_id=value,
                                      success="Approved — sent to the payment gateway"):
            yield update

    @rx.event
    async def open_reject(self, value: str):
        """Open the reject dialog of one of the open case's refunds, with no old errors."""
        try:
            await self._caller("agent")
            self._refund_version(value)
        except DomainError as err:
            return self._fail(err)
        self._clear_errors()
        self.reject_for = value

    @rx.event
    async def close_reject(self):
        """Back, Escape or a click outside: the dialog closes (its errors with it)."""
        try:
            await self._caller("agent")
        except DomainError as err:
            return self._fail(err)
        self._clear_errors()
        self.reject_for = ""

    @rx.event
    async def reject(self, form: dict):
        """The dialog closes only once the rejection went through: a missing reason or
        message is said under its field, and what was typed stays."""
        code, message = form.get("reject_code", ""), form.get("reject_message", "")
        async for update in self._act(refund_review.reject_refund, code, message, refund_id=form.get("refund_id", ""),
                                      success="Rejected; the customer was told why"):
            yield update
        if self._ok:
            self.reject_for = ""
            yield
