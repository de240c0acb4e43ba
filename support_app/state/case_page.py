"""One support case: conversation, actions and history, refreshed live."""

from __future__ import annotations

import reflex as rx

from support_app.domain.errors import DomainError, ErrorCode
from support_app.services import case_commands, case_queries
from support_app.services.auth_service import Identity
from support_app.services.runner import call
from support_app.services.views import CaseDetail
from support_app.state.base import AppState


class CaseState(AppState):
    case: CaseDetail | None = None
    load_error: str = ""
    _case_id: str = ""
    _all_messages: bool = False  # "Show N earlier messages" was clicked on this page
    _all_history: bool = False

    async def _reload(self, caller: Identity | None = None) -> None:
        caller = await self._caller_or(caller)
        self.case = await call(case_queries.get_case, caller, self._case_id, all_messages=self._all_messages,
                               all_history=self._all_history)

    @rx.event
    async def load(self):
        try:
            caller = await self._enter()  # first: a new sign-in in this tab resets every page state
            self.case, self.load_error = None, ""
            self._all_messages = self._all_history = False
            self._case_id = str(self.router.url.path.rstrip("/").rsplit("/", 1)[-1])
            await self._reload(caller)
            self._watch(f"case:{self.case.id}")
        except DomainError as err:
            self.load_error = err.message
            return self._turn_away(err)

    def _showing(self) -> bool:
        return self.case is not None

    async def _act(self, fn, *args, success: str = "", field_prefix: str = "", done: tuple = ()):
        """One command on this case, with the version this tab saw."""
        async for update in self._command(fn, *args, target=self._target, reread=self._reload,
                                          success=success, field_prefix=field_prefix, done=done):
            yield update

    def _target(self) -> tuple[str, int | None]:
        if self.case is None:  # an action on a case this tab does not show (any more)
            raise DomainError(ErrorCode.PAGE_STALE)
        return self._case_id, self.case.version or None

    @rx.event
    async def show_earlier_messages(self):
        self._all_messages = True
        return await self._refresh()

    @rx.event
    async def show_earlier_history(self):
        self._all_history = True
        return await self._refresh()

    @rx.event
    async def send_reply(self, form: dict):
        """The reply form (its text stays in the browser until sent; cleared once it went through)."""
        async for update in self._act(case_commands.add_message, form.get("body", ""), False, success="Reply sent",
                                      done=(rx.set_value("reply-text", ""),)):
            yield update

    @rx.event
    async def add_note(self, form: dict):
        async for update in self._act(case_commands.add_message, form.get("body", ""), True, success="Internal note added",
                                      field_prefix="note_", done=(rx.set_value("note-text", ""),)):
            yield update

    @rx.event
    async def set_status(self, target: str):
        async for update in self._act(case_commands.change_status, str(target), success="Status updated"):
            yield update

    @rx.event
    async def assign_to_me(self):
        try:
            caller = await self._caller("agent")
        except DomainError as err:
            yield self._fail(err)
            return
        async for update in self._act(case_commands.assign, caller.id, success="Assigned to you"):
            yield update

    @rx.event
    async def reopen(self):
        """"Reopen case": the owner or an agent, within the reopening period (the service decides)."""
        async for update in self._act(case_commands.reopen_case, success="Case reopened"):
            yield update
