"""One support case: conversation, actions and history, refreshed live."""

from __future__ import annotations

import reflex as rx

from support_app.domain.errors import DomainError
from support_app.services import case_commands, case_queries
from support_app.services.runner import call
from support_app.services.views import CaseDetail
from support_app.state.base import AppState
from support_app.state import toasts


class CaseState(AppState):
    case: CaseDetail | None = None
    load_error: str = ""
    reply_text: str = ""
    note_text: str = ""
    _case_id: str = ""
    _ok: bool = False

    async def _reload(self) -> None:
        caller = await self._caller()
        self.case = await call(case_queries.get_case, caller, self._case_id)

    @rx.event
    async def load(self):
        try:
            await self._enter()  # first: a new sign-in in this tab resets every page state
            self.case, self.load_error = None, ""
            self._case_id = str(self.router.url.path.rstrip("/").rsplit("/", 1)[-1])
            await self._reload()
            self._watch(f"case:{self.case.id}")
        except DomainError as err:
            self.load_error = err.message
            return self._turn_away(err)

    def _showing(self) -> bool:
        return self.case is not None

    async def _act(self, fn, *args, success: str = "", field_prefix: str = ""):
        """Identify, run one command, reload the read model, map the error (its field
        messages under ``field_prefix`` + name: the note box's "body" is "note_body")."""
        self._ok = False
        if self.busy:
            return
        self._clear_errors()
        self.busy = True
        yield
        try:
            caller = await self._caller()
            version = self.case.version if self.case and self.case.version else None
            await call(fn, caller, self._case_id, *args, expected_version=version)
            await self._reload()
        except DomainError as err:
            if field_prefix and err.fields:
                err = DomainError(err.code, err.message, {field_prefix + k: v for k, v in err.fields.items()})
            yield self._fail(err)
            try:
                await self._reload()
            except DomainError:
                pass
            return
        self.busy, self._ok = False, True
        if success:
            yield toasts.success(success)

    @rx.event
    def set_reply_text(self, value: str):
        self.reply_text = value

    @rx.event
    def set_note_text(self, value: str):
        self.note_text = value

    @rx.event
    async def send_reply(self):
        async for update in self._act(case_commands.add_message, self.reply_text, False, success="Reply sent"):
            yield update
        if self._ok:
            self.reply_text = ""

    @rx.event
    async def add_note(self):
        async for update in self._act(case_commands.add_message, self.note_text, True, success="Internal note added",
                                      field_prefix="note_"):
            yield update
        if self._ok:
            self.note_text = ""

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
