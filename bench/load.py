"""Load benchmark: concurrent raw-websocket sessions against the real app. Prints figures; never pass/fail.

Per configuration (memory-sqlite, redis-sqlite, redis-postgres; also disk-sqlite) it
starts everything itself in a temporary directory (bench/load_stack.py): a fresh
database, migrations, the sandbox process, demo-size data (bench/load_seed.py), then
``reflex run --env prod`` with GRANIAN_WORKERS=--workers. Per level it runs N sessions
for --duration seconds: ~70 % customers, ~30 % agents, each an asyncio task with its own
websocket and client token that talks Reflex's wire protocol exactly as the browser
does (bench/load_wire.py) and pauses a random think time between actions. Printed per
configuration and level: per-action count, p50/p95/p99 ms and errors, actions/s,
the app's CPU % and peak RSS (its whole process tree), lock warnings and ERROR lines in
the app log. --out saves everything as JSON.

    make bench-load                                         # the full run
    .venv/bin/python bench/load.py --configs redis-sqlite --levels 10 --duration 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import signal
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load_report import ActionStats, level_text, percentile, summary_text  # noqa: E402
from load_stack import (  # noqa: E402
    CONFIGS, ROOT, MachineSampler, SpeedProbe, Stack, TreeSampler, app_env_arg, log_counts, process_tree,
)
from load_wire import Closed, Outcome, Protocol, Tab, known_states, load_protocol  # noqa: E402

# =============================================================================================
# The app as the benchmark drives it: state classes, event handlers, routes.
# THE place to edit when pages or states are refactored: full names are derived from these
# class paths the way Reflex names states (module dots -> "___", "____" + snake_case class),
# and checked against the compiled frontend (.web) before a run.
# =============================================================================================
REFLEX_ROOT = "reflex.state.State"
APP = "support_app.state.base.AppState"
STATES = {  # short name -> class path; every page state is a substate of AppState
    "app": APP,
    "login": "support_app.state.login.LoginState",
    "orders": "support_app.state.orders.OrdersState",
    "cases": "support_app.state.cases.CasesState",
    "case": "support_app.state.case_page.CaseState",
    "new_case": "support_app.state.new_case.NewCaseState",
    "refund_form": "support_app.state.refund_form.RefundFormState",
    "refund": "support_app.state.refund_page.RefundState",
    "refund_queue": "support_app.state.refund_queue.RefundQueueState",
    "workspace": "support_app.state.workspace.WorkspaceState",
}
HANDLERS = {  # what a page's form or button sends: (state, handler); payloads are built below
    "send_reply": ("case", "send_reply"),  # the reply form's submit: {"form": {"body"}}
    "open_case": ("new_case", "submit"),  # {"form": {"category", "priority", "subject", "description"}}
    "refund_increment": ("refund_form", "increment"),  # {"line_id"}
    "refund_decrement": ("refund_form", "decrement"),  # {"line_id"}
    "refund_reason": ("refund_form", "set_reason"),  # {"value"}
    "refund_submit": ("refund_form", "submit"),  # the form: {"form": {"note"}}
    "approve": ("refund", "approve"),
    "select_case": ("workspace", "select_case"),  # a queue row clicked in the workspace: {"value": case id}
}
ROUTES = {  # page -> route pattern (on_load handlers run on the server via on_load_internal)
    "login": "/login",
    "orders": "/orders",
    "my_cases": "/cases",
    "queue": "/queue",
    "case": "/cases/[case_id]",
    "new_case": "/cases/new",
    "refund_form": "/cases/[case_id]/refund",
    "refund": "/refunds/[refund_id]",
    "refund_queue": "/refunds",
    "workspace": "/workspace",
}
READS = {  # what a session reads from its copy of the state to pick its next step
    "user_role": ("app", "user_role"),
    "orders": ("orders", "orders"),  # [{order_id, ...}]
    "case_rows": ("cases", "rows"),  # [{id, status, ...}]
    "case": ("case", "case"),  # {id, status, refunds: [{id}], ...}
    "refund_form": ("refund_form", "form"),  # {lines: [{line_id, refundable_now, eligible}]}
    "refund_quantities": ("refund_form", "quantities"),  # {line_id: units chosen}
    "refund_reason": ("refund_form", "reason"),
    "refund": ("refund", "refund"),  # {id, status, actions: [...]}
    "refund_rows": ("refund_queue", "rows"),
    "case_form_order": ("new_case", "order"),  # the order the case form is about, once loaded
    "workspace_rows": ("workspace", "rows"),  # [{id, ...}]
    "workspace_open": ("workspace", "selected"),  # {case: {id, ...}, refunds, ...} once a case is open
}
PAGE_DATA = {  # the var a page's on_load fills: empty after is_hydrated means the page failed to load
    "orders": ("orders", "loaded"),
    "my_cases": ("cases", "loaded"),
    "queue": ("cases", "loaded"),
    "case": ("case", "case"),
    "new_case": ("new_case", "order"),
    "refund_form": ("refund_form", "form"),
    "refund": ("refund", "refund"),
    "refund_queue": ("refund_queue", "loaded"),
    "workspace": ("workspace", "loaded"),
}
ERROR_VARS = {  # vars whose non-empty value means the action failed (besides error toasts)
    "login": ("error",),
    "orders": ("load_error",),
    "case": ("load_error",),
    "new_case": ("order_error",),
    "refund_form": ("load_error",),
    "refund": ("load_error",),
    "workspace": ("load_error",),
}
CUSTOMER_MOVES = {"my cases": 24, "case page": 24, "my orders": 8, "case form": 10, "refund form": 16, "view refund": 14,
                  "reload page": 3, "sign out": 1}
AGENT_MOVES = {"agent queue": 20, "workspace": 16, "case page": 18, "refund page": 34, "refund queue": 8, "reload page": 3,
               "sign out": 1}
FOLLOW_UP = {"post reply": 0.4, "open case": 0.9, "request refund": 0.75, "approve": 0.9, "pick a case": 0.6}  # chance, when possible
ACTION_ORDER = ["open app", "sign in", "my orders", "my cases", "case page", "post reply", "case form", "open case",
                "refund form", "refund: add item", "refund: reason", "request refund", "view refund", "agent queue",
                "workspace", "pick a case", "refund queue", "refund page", "approve",
                "reload page", "sign out", "recover (new tab)"]
ACTION_TIMEOUT_S = 10.0  # an action slower than this counts as failed ("timeout")
LATE_ERROR_S = 0.5  # how long an action that shows no effect waits for a late error toast (see _no_effect)
LATE_GRACE_S = 60.0  # ... and is then awaited this much longer before the tab is given up


def _snake(name: str) -> str:
    """reflex_base.utils.format.to_snake_case."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower().replace("-", "_")


def _one(path: str) -> str:
    module, cls = path.rsplit(".", 1)
    return module.replace(".", "___") + "____" + _snake(cls)


def state_name(key: str) -> str:
    chain = [REFLEX_ROOT, APP] + ([] if STATES[key] == APP else [STATES[key]])
    return ".".join(_one(p) for p in chain)


S = {key: state_name(key) for key in STATES}
H = {key: f"{S[state]}.{handler}" for key, (state, handler) in HANDLERS.items()}


def check_names(web_dir: Path) -> None:
    """Every state of the table must exist in the compiled frontend, every handler in its pages."""
    states = known_states(web_dir)
    missing = [f"{k} ({v})" for k, v in S.items() if v not in states]
    if missing:
        raise SystemExit(f"bench/load.py: states not in the compiled app (update STATES): {', '.join(missing)}")
    compiled = "\n".join(p.read_text(errors="replace") for p in (web_dir / "app_components").rglob("*.jsx"))
    absent = [k for k, name in H.items() if f'"{name}"' not in compiled]
    if absent:
        raise SystemExit(f"bench/load.py: handlers no page sends any more (update HANDLERS): {', '.join(absent)}")


def url_for(page: str, **params: object) -> str:
    path = ROUTES[page]
    for k, v in params.items():
        path = path.replace(f"[{k}]", str(v))
    return path


# ---------------------------------------------------------------------------------------------


class NoEffect(Exception):
    """The server answered without an error, but the action did not happen (a silent no-op)."""


@dataclass
class LevelRun:
    """Everything one level's sessions share: the server's address, figures, the refund supply.

    A level has two phases. Warm-up: every session opens the app and signs in (starts spread
    over --ramp seconds); argon2 makes a sign-in storm CPU-bound, so it is measured on its own.
    Steady: once all have signed in, --duration seconds of pages and actions (sign-outs and
    sign-ins included as ordinary moves); only this window counts for actions/s, CPU and logs."""

    proto: Protocol
    port: int
    password: str
    think: tuple[float, float]
    pool: deque  # ids of refunds in status requested, oldest first (shared by every level of a config)
    seeded_refunds: list[int]
    stop_at: float = float("inf")
    steady: asyncio.Event = field(default_factory=asyncio.Event)
    warmup: dict[str, ActionStats] = field(default_factory=dict)
    actions: dict[str, ActionStats] = field(default_factory=dict)
    sent: int = 0
    received: int = 0
    pool_empty: int = 0
    warmed: int = 0
    warm_done: asyncio.Event = field(default_factory=asyncio.Event)
    sessions: int = 0

    def record(self, action: str, ms: float, error: str | None) -> None:
        bucket = self.actions if self.steady.is_set() else self.warmup
        bucket.setdefault(action, ActionStats()).add(ms, error)

    def signed_in(self) -> None:
        self.warmed += 1
        if self.warmed >= self.sessions:
            self.warm_done.set()


class Session:
    """One person in one browser tab: signs in, then moves between pages and acts."""

    def __init__(self, run: LevelRun, role: str, email: str, rng: random.Random) -> None:
        self.run, self.role, self.email, self.rng = run, role, email, rng
        self.tab = self._new_tab()
        self.page = "login"
        self.case_ids: list[int] = []
        self.refund_ids: list[int] = []
        self.order_ids: list[str] = []
        self.reviewing: int | None = None  # the pooled refund this agent has open and may approve
        self.last_action = ""

    def _new_tab(self, cookies: dict | None = None) -> Tab:
        tab = Tab(self.run.proto, "127.0.0.1", self.run.port, {S[k]: v for k, v in ERROR_VARS.items()},
                  ACTION_TIMEOUT_S + LATE_GRACE_S)
        tab.cookies.update(cookies or {})
        tab.counts = self.run
        return tab

    def read(self, key: str, default=None):
        state, var = READS[key]
        value = self.tab.var(S[state], var, default)
        return default if value is None else value

    @property
    def signed_in(self) -> bool:
        return bool(self.read("user_role", ""))

    # ------------------------------------------------------------ running

    async def run_until_stop(self, ramp: float) -> None:
        try:
            await asyncio.sleep(self.rng.uniform(0, ramp))
            for _ in range(4):  # warm-up: open the app and sign in (a failed attempt is retried)
                name, step = self.next_action()
                await self.act(name, step)
                if self.signed_in:
                    break
                await asyncio.sleep(self.rng.uniform(*self.run.think))
            self.run.signed_in()
            await self.run.steady.wait()
            await self._sleep(self.rng.uniform(*self.run.think))
            while time.monotonic() < self.run.stop_at:
                name, step = self.next_action()
                await self.act(name, step)
                await self._sleep(self.rng.uniform(*self.run.think))
        finally:
            self._release_review()
            await self.tab.close()

    async def _sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, min(seconds, self.run.stop_at - time.monotonic())))

    async def act(self, name: str, step) -> None:
        """Run one action, time it from its first event to its last update, record the outcome.

        An action still running after ACTION_TIMEOUT_S is recorded as a timeout, and then the
        person keeps waiting for it (up to LATE_GRACE_S more) like a patient user: giving up and
        reloading at once would pile retries onto a server that is already behind."""
        self.tab.outcome = Outcome()
        started = time.perf_counter()
        error = None
        task = asyncio.create_task(step())
        try:
            done, _ = await asyncio.wait({task}, timeout=ACTION_TIMEOUT_S)
            if task in done:
                task.result()
            else:
                error = f"timeout ({ACTION_TIMEOUT_S:.0f} s)"
        except asyncio.TimeoutError:  # a wait inside the step that the server never answered
            error = f"timeout ({ACTION_TIMEOUT_S:.0f} s)"
        except Closed as exc:
            error = f"socket closed ({exc})"
        except (ConnectionError, OSError) as exc:
            error = f"connection failed ({type(exc).__name__})"
        except NoEffect as exc:
            error = str(exc)
        ms = (time.perf_counter() - started) * 1000
        outcome = self.tab.outcome
        if error is None and outcome.errors:
            error = outcome.errors[0]
        if error is None and "/login" in outcome.redirects and name not in ("open app", "sign out", "recover (new tab)"):
            error = "sent back to sign-in"
        self.run.record(name, ms, error)
        self.last_action = name
        stuck = False
        if not task.done():
            grace = LATE_GRACE_S if time.monotonic() < self.run.stop_at else 5.0  # the window is over: little
            try:
                await asyncio.wait_for(task, grace)
            except Exception:  # noqa: BLE001 -- still nothing, or it failed late: start over in a new tab
                stuck = True
        self.tab.outcome = None
        lost = error is not None and error.startswith(("socket closed", "connection failed"))
        if name != "recover (new tab)" and (stuck or lost):
            await self.recover()

    async def recover(self) -> None:
        """After a timeout or a lost socket: reload the page in a new tab (new token, same cookies),
        so late updates of the old events cannot be taken for this session's next ones."""
        old = self.tab
        url = old.url if self.signed_in and self.page != "login" else "/login"
        await old.close()
        self.tab = self._new_tab(old.cookies)
        await self.act("recover (new tab)", lambda: self._full_load(url))

    # ------------------------------------------------------------ pages

    async def _full_load(self, url: str) -> None:
        await self.tab.full_load(url)
        self.page = self._page_of(url)
        await self._check_loaded()

    async def _go(self, page: str, url: str) -> None:
        await self.tab.navigate(url)
        self.page = page
        await self._check_loaded()

    async def _submit(self, *events: tuple[str, dict]) -> str | None:
        """A form ending in rx.redirect: the redirect navigates."""
        target = await self.tab.submit(*events)
        if target is not None:
            self.page = self._page_of(target)
            await self._check_loaded()
        return target

    async def _check_loaded(self) -> None:
        """is_hydrated only says the on_load chain ended: a handler that raised ends it too."""
        data = PAGE_DATA.get(self.page)
        if data and not self.tab.outcome.redirects and not self.tab.var(S[data[0]], data[1]):
            await self._no_effect(f"{self.page} page hydrated without its data")

    async def _no_effect(self, what: str) -> None:
        """Raise NoEffect unless an error arrives shortly. A handler that raises is reported by
        Reflex from a separate task (backend_exception_handler), so its "An error occurred."
        toast can arrive after the updates of the events queued behind it (the barrier, or the
        on_load chain's set_is_hydrated)."""
        if not self.tab.outcome.errors:
            try:
                await asyncio.wait_for(self.tab.expect(lambda u: bool(self.tab.outcome.errors)), LATE_ERROR_S)
            except asyncio.TimeoutError:
                pass
        if not self.tab.outcome.errors:
            raise NoEffect(what)

    @staticmethod
    def _page_of(url: str) -> str:
        path = url.split("?", 1)[0]
        for page, pattern in sorted(ROUTES.items(), key=lambda kv: "[" in kv[1]):  # static routes win
            if re.fullmatch(re.sub(r"\\\[\w+\\\]", r"[^/]+", re.escape(pattern)), path):
                return page
        return "other"

    # ------------------------------------------------------------ choosing the next step

    def next_action(self):
        if not self.signed_in:
            if self.page != "login" or self.tab.ws is None:
                return "open app", lambda: self._full_load("/login")
            return "sign in", self.sign_in
        return self.customer_action() if self.role == "customer" else self.agent_action()

    def _chance(self, action: str) -> bool:
        return self.rng.random() < FOLLOW_UP[action]

    def customer_action(self):
        case = self.read("case", None) if self.page == "case" else None
        if case and case.get("status") != "closed" and self._chance("post reply"):
            return "post reply", self.post_reply
        if self.page == "new_case" and self.read("case_form_order", None) and self._chance("open case"):
            return "open case", self.open_case
        if self.page == "refund_form" and (click := self._refund_form_click()):
            return click
        move = self._weighted(CUSTOMER_MOVES)
        if move in ("case page", "refund form") and not self.case_ids:
            move = "my cases"
        if move == "view refund" and not self.refund_ids:
            move = "my cases" if not self.case_ids else "case page"
        if move == "case form" and not self.order_ids:
            move = "my orders"
        return move, {
            "my cases": lambda: self._go_and_learn("my_cases", url_for("my_cases")),
            "my orders": lambda: self._go_and_learn("orders", url_for("orders")),
            "case page": lambda: self._go_and_learn("case", url_for("case", case_id=self.rng.choice(self.case_ids))),
            "case form": lambda: self._go("new_case", f"{url_for('new_case')}?order={self.rng.choice(self.order_ids)}"),
            "refund form": lambda: self._go("refund_form", url_for("refund_form", case_id=self.rng.choice(self.case_ids))),
            "view refund": lambda: self._go_and_learn("refund", url_for("refund", refund_id=self.rng.choice(self.refund_ids))),
            **self._common_moves(),
        }[move]

    def agent_action(self):
        refund = self.read("refund", None) if self.page == "refund" else None
        if refund and "approve" in (refund.get("actions") or []) and self._chance("approve"):
            return "approve", self.approve
        self._release_review(refund)
        if self.page == "workspace" and len(self.read("workspace_rows", [])) > 1 and self._chance("pick a case"):
            return "pick a case", self.pick_case
        move = self._weighted(AGENT_MOVES)
        if move == "case page" and not self.case_ids:
            move = "agent queue"
        opened = f"?case={self.rng.choice(self.case_ids)}" if self.case_ids else ""  # a case link from elsewhere
        return move, {
            "agent queue": lambda: self._go_and_learn("queue", url_for("queue")),
            "workspace": lambda: self._go_and_learn("workspace", url_for("workspace") + opened),
            "refund queue": lambda: self._go_and_learn("refund_queue", url_for("refund_queue")),
            "case page": lambda: self._go_and_learn("case", url_for("case", case_id=self.rng.choice(self.case_ids))),
            "refund page": lambda: self._go_and_learn("refund", url_for("refund", refund_id=self._refund_to_review())),
            **self._common_moves(),
        }[move]

    def _common_moves(self) -> dict:
        return {"reload page": lambda: self._full_load(self.tab.url), "sign out": self.sign_out}

    def _release_review(self, refund: dict | None = None) -> None:
        """A pooled refund left undecided goes back to the supply for another agent."""
        if self.reviewing is not None and (refund is None or refund.get("status") == "requested"):
            self.run.pool.append(self.reviewing)
        self.reviewing = None

    def _weighted(self, moves: dict[str, int]) -> str:
        return self.rng.choices(list(moves), weights=list(moves.values()))[0]

    def _refund_to_review(self) -> int:
        """The oldest requested refund nobody took yet; without one, any refund (to view only)."""
        if self.run.pool:
            self.reviewing = self.run.pool.popleft()
            return self.reviewing
        self.run.pool_empty += 1
        return self.rng.choice(self.refund_ids or self.run.seeded_refunds)

    def _refund_form_click(self):
        """A person asking for a refund clicks three times, each answered on its own and
        timed as its own action: an item (its + button), a reason, then "Request refund"
        (answered once the refund's page shows). Once begun, the form is finished; a
        request that was refused is not sent again."""
        chosen = sum((self.read("refund_quantities", {}) or {}).values())
        if chosen and self.read("refund_reason", "") and self.last_action != "request refund":
            return "request refund", self.request_refund
        if chosen and not self.read("refund_reason", ""):
            return "refund: reason", self.choose_refund_reason
        if not chosen and self._refundable_line() and self._chance("request refund"):
            return "refund: add item", self.add_refund_item
        return None

    def _refundable_line(self) -> str | None:
        form = self.read("refund_form", None) or {}
        lines = [ln["line_id"] for ln in form.get("lines") or [] if ln.get("refundable_now", 0) > 0 and ln.get("eligible")]
        return self.rng.choice(lines) if lines else None

    async def _go_and_learn(self, page: str, url: str) -> None:
        await self._go(page, url)
        self._learn()

    def _learn(self) -> None:
        """Ids this person can see on the page just loaded (what they could click next)."""
        if self.page in ("my_cases", "queue"):
            self.case_ids = [row["id"] for row in self.read("case_rows", [])] or self.case_ids
        elif self.page == "orders":
            self.order_ids = [o["order_id"] for o in self.read("orders", [])] or self.order_ids
        elif self.page == "case" and (case := self.read("case", None)):
            self.refund_ids = sorted(set(self.refund_ids) | {r["id"] for r in case.get("refunds") or []})
        elif self.page == "workspace":
            self.case_ids = [row["id"] for row in self.read("workspace_rows", [])] or self.case_ids
        elif self.page == "refund_queue":
            self.refund_ids = [row["id"] for row in self.read("refund_rows", [])] or self.refund_ids

    # ------------------------------------------------------------ actions with forms

    async def sign_in(self) -> None:
        """The sign-in page's native form post (the only place that knows it): the answer sets
        the HttpOnly session cookie and redirects; the next page load carries the cookie."""
        target = await self.tab.sign_in(self.email, self.run.password)
        if target.startswith("/login"):
            self.tab.outcome.errors.append(f"sign-in refused ({target[:60]})")
            return
        await self._full_load(target)
        self._learn()

    async def sign_out(self) -> None:
        await self.tab.post_form("/api/auth/logout", {})
        await self._full_load("/login")

    async def post_reply(self) -> None:
        text = f"Load benchmark reply {self.rng.randrange(10**6)}: any news on this?"
        await self.tab.call((H["send_reply"], {"form": {"body": text}}))
        case = self.read("case", None) or {}
        if not any(m.get("body") == text for m in case.get("messages") or []):
            await self._no_effect("reply not in the conversation afterwards")

    async def open_case(self) -> None:
        form = {"category": self.rng.choice(["damaged_item", "wrong_item", "delivery", "return_refund"]),
                "priority": "normal", "subject": "Load benchmark case",
                "description": "Opened by the load benchmark: the parcel arrived damaged."}
        target = await self._submit((H["open_case"], {"form": form}))
        if target and self.page == "case":
            self.case_ids.append(int(target.rsplit("/", 1)[-1]))

    async def add_refund_item(self) -> None:
        line = self._refundable_line()
        await self.tab.call((H["refund_increment"], {"line_id": line}))
        if not (self.read("refund_quantities", {}) or {}).get(line):
            await self._no_effect("the item is not chosen afterwards")

    async def choose_refund_reason(self) -> None:
        await self.tab.call((H["refund_reason"], {"value": "damaged"}))
        if self.read("refund_reason", "") != "damaged":
            await self._no_effect("the reason is not chosen afterwards")

    async def request_refund(self) -> None:
        target = await self._submit((H["refund_submit"], {"form": {"note": ""}}))
        if target and self.page == "refund":
            refund_id = int(target.rsplit("/", 1)[-1])
            self.refund_ids.append(refund_id)
            self.run.pool.append(refund_id)

    async def pick_case(self) -> None:
        """A click on another row of the workspace's queue: the case opens beside it."""
        shown = (self.read("workspace_open", None) or {}).get("case", {}).get("id")
        wanted = self.rng.choice([row["id"] for row in self.read("workspace_rows", []) if row["id"] != shown])
        await self.tab.call((H["select_case"], {"value": str(wanted)}))
        if (self.read("workspace_open", None) or {}).get("case", {}).get("id") != wanted:
            await self._no_effect("the picked case is not open afterwards")

    async def approve(self) -> None:
        self.reviewing = None
        await self.tab.call((H["approve"], {}))
        if (self.read("refund", None) or {}).get("status") == "requested":
            await self._no_effect("refund still requested afterwards")


# ---------------------------------------------------------------------------------------------


async def run_level(stack: Stack, proto: Protocol, sessions: int, args, pool: deque, seed: int, say) -> dict:
    rng = random.Random(seed)
    n_agents = max(1, round(sessions * args.agent_share)) if sessions > 1 else 0
    n_customers = sessions - n_agents
    customers, agents = stack.seed["customers"], stack.seed["agents"]
    run = LevelRun(proto, stack.app_port, stack.seed["password"], tuple(args.think), pool,
                   stack.seed["requested_refunds"], sessions=sessions)
    people = [Session(run, "customer", customers[i % len(customers)], random.Random(rng.random())) for i in range(n_customers)]
    people += [Session(run, "agent", agents[i % len(agents)], random.Random(rng.random())) for i in range(n_agents)]

    warm_started = time.monotonic()
    ramp = args.ramp if args.ramp is not None else max(10.0, sessions / 4)
    tasks = [asyncio.create_task(p.run_until_stop(ramp)) for p in people]
    try:
        await asyncio.wait_for(run.warm_done.wait(), args.warmup_timeout)
    except asyncio.TimeoutError:
        say(f"    warm-up: only {run.warmed} of {sessions} sessions through sign-in after {args.warmup_timeout:.0f} s; "
            "measuring anyway")
    warmup_s = time.monotonic() - warm_started

    app = TreeSampler(lambda: process_tree(stack.app.pid))
    sandbox = TreeSampler(lambda: process_tree(stack.sandbox.pid))
    worker = TreeSampler(lambda: process_tree(stack.worker.pid)) if stack.worker else None
    me = TreeSampler(lambda: [os.getpid()])
    pg = TreeSampler(stack.postgres_pids) if stack.pg_db else None
    samplers = [s for s in (app, sandbox, worker, me, pg) if s]
    for s in samplers:
        s.start()
    machine, speed = MachineSampler(), SpeedProbe()
    machine.start()
    speed.start()
    offset = stack.log_offset()
    gateway_before = await asyncio.to_thread(stack.gateway_counts)
    before = (run.sent, run.received)
    start = time.monotonic()
    run.stop_at = start + args.duration
    run.steady.set()

    async def sample() -> None:
        while True:
            await asyncio.sleep(1.0)
            for s in samplers:
                await asyncio.to_thread(s.sample)

    sampling = asyncio.create_task(sample())
    try:
        await asyncio.sleep(args.duration)
        for s in samplers:
            s.sample()  # the window ends here; actions still running finish (up to their timeout) below
        box = {**machine.result(), "reference_loop_ms": speed.result()}
        counts = (run.sent - before[0], run.received - before[1])
        logs = log_counts(stack.log_since(offset))
        gateway_after = await asyncio.to_thread(stack.gateway_counts)
        await asyncio.gather(*tasks)
    finally:
        sampling.cancel()
        for t in tasks:
            t.cancel()
    elapsed = time.monotonic() - start

    every = [ms for a in run.actions.values() for ms in a.ok_ms + a.error_ms]
    n_actions = sum(a.count for a in run.actions.values())
    n_errors = sum(len(a.error_ms) for a in run.actions.values())
    notes = []
    if run.pool_empty:
        notes.append(f"{run.pool_empty} agent refund-page visits found no requested refund left to approve")
    if run.warmed < sessions:
        notes.append(f"only {run.warmed} of {sessions} sessions had signed in when the window started")
    return {
        "sessions": sessions, "customers": n_customers, "agents": n_agents, "duration_s": args.duration,
        "elapsed_s": round(elapsed, 1), "workers": stack.workers,
        "warmup": {"seconds": round(warmup_s, 1), "ramp_s": ramp,
                   "actions": {name: st.summary() for name, st in run.warmup.items()}},
        "actions": {name: st.summary() for name, st in run.actions.items()},
        "totals": {
            "actions": n_actions, "errors": n_errors, "error_pct": 100 * n_errors / max(1, n_actions),
            "actions_per_s": n_actions / args.duration,
            # what these sessions could ask for at all, were every answer instant: one action
            # per mean think time each (200 sessions at 0.5-1.5 s: 200/s)
            "offered_max_per_s": sessions / (sum(args.think) / 2) if sum(args.think) else None,
            "p50_ms": _r(percentile(every, 50)), "p95_ms": _r(percentile(every, 95)), "p99_ms": _r(percentile(every, 99)),
            "msgs_out_per_s": counts[0] / args.duration, "msgs_in_per_s": counts[1] / args.duration,
            "refunds_waiting": len(pool),
            **{k: v - gateway_before.get(k, 0) for k, v in gateway_after.items()},
        },
        "server": {
            "app_cpu_pct": app.result()["cpu_pct"], "app_peak_rss_mb": app.result()["peak_rss_mb"],
            "sandbox_cpu_pct": sandbox.result()["cpu_pct"],
            "worker_cpu_pct": worker.result()["cpu_pct"] if worker else None,  # the refund sender's own process
            "postgres_cpu_pct": pg.result()["cpu_pct"] if pg else None,
            **logs,
        },
        "load_generator": me.result(),
        # Never below 0: with CPU stolen by a VM's host, the guest's per-process and machine-wide
        # counts disagree by a few percent (a run at 32 % stolen gave -4 %).
        "machine": {**box, "others_cpu_pct": max(0.0, round(box["machine_cpu_pct"] - sum(
            s.result()["cpu_pct"] for s in samplers), 1))},
        "notes": notes,
    }


def _r(v: float) -> float | None:
    return None if v != v else round(v, 1)


class LockfileGuard:
    """`reflex run` rewrites the tracked reflex.lock/ files (see notes/reflex.md §4.7); put them back."""

    def __init__(self) -> None:
        self.saved = {p: p.read_bytes() for p in (ROOT / "reflex.lock").glob("*") if p.is_file()}

    def restore(self) -> None:
        for path, data in self.saved.items():
            if not path.exists() or path.read_bytes() != data:
                path.write_bytes(data)


def run_config(name: str, args, results: dict, say) -> None:
    cfg = CONFIGS[name]
    workers = args.workers
    notes = []
    if cfg.state != "redis" and workers != 1:
        notes.append(f"{cfg.state} state manager: 1 worker (state lives in one process; --workers {workers} ignored)")
        workers = 1
    # As deployed: with Redis the refund sender is its own process (deploy/compose.yaml); `make run` embeds it.
    worker_process = args.sender == "process" or (args.sender == "auto" and cfg.state == "redis")
    # Likewise the app: with Redis as the production image runs it (cli serve), without as `make run`.
    serve = args.serve if args.serve != "auto" else ("cli" if cfg.state == "redis" else "run")
    stack = Stack(cfg, app_port=args.port, sandbox_port=args.port + 1, workers=workers,
                  app_redis_url=args.redis_app, state_redis_url=args.redis_state,
                  customers=args.customers, agents=args.agents, keep_tmp=args.keep_tmp, app_env=args.app_env,
                  worker_process=worker_process, serve=serve)
    entry = results["configs"].setdefault(name, {"workers": workers, "sender": "process" if worker_process else "embedded",
                                                 "serve": serve, "notes": notes, "levels": []})
    guard = LockfileGuard()
    try:
        stack.start(say)
        entry["build_and_start_s"] = round(stack.build_seconds, 1)
        entry["seed"] = {k: (len(v) if isinstance(v, list) else v) for k, v in stack.seed.items() if k != "password"}
        web = ROOT / ".web"
        check_names(web)
        proto = load_protocol(web, list(ROUTES.values()))
        pool = deque(stack.seed["requested_refunds"])
        for note in notes:
            say(f"  note: {note}")
        for i, level in enumerate(args.levels):
            say(f"  [{name}] level {level}: {args.duration:.0f} s ...")
            result = run_loop(args.loop, run_level(stack, proto, level, args, pool, args.seed * 1000 + i, say))
            entry["levels"].append(result)
            say(level_text(name, result, ACTION_ORDER))
            save(args.out, results)
            time.sleep(args.pause)
    except Exception as exc:  # one configuration failing must not lose the others' figures
        entry["error"] = f"{type(exc).__name__}: {exc}"[:2000]
        say(f"  [{name}] FAILED: {entry['error']}")
        if stack.app is not None and getattr(stack, "app_log", None) and stack.app_log.exists():
            say("  app log tail:\n" + stack.app_log.read_text(errors="replace")[-3000:])
    finally:
        stack.stop()
        guard.restore()
        save(args.out, results)


def save(path: Path | None, results: dict) -> None:
    if path:
        path.write_text(json.dumps(results, indent=1, default=str))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n", 2)[2])
    p.add_argument("--levels", default="10,50,100,200", help="concurrent sessions per level (default 10,50,100,200)")
    p.add_argument("--duration", type=float, default=60, help="seconds per level (default 60)")
    p.add_argument("--think", default="0.5-1.5", help="think time between actions, seconds min-max (default 0.5-1.5)")
    p.add_argument("--configs", default="memory-sqlite,redis-sqlite,redis-postgres",
                   help=f"comma-separated, of {', '.join(CONFIGS)} (default memory-sqlite,redis-sqlite,redis-postgres)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="Reflex backend workers (GRANIAN_WORKERS) for the redis configurations (default: cores)")
    p.add_argument("--sender", choices=("auto", "embedded", "process"), default="auto",
                   help="the refund sender: in the app (as make run) or its own process, python -m support_app.worker "
                        "(as deploy/compose.yaml); default auto: its own process with Redis, embedded without")
    p.add_argument("--serve", choices=("auto", "run", "cli"), default="auto",
                   help="how the app is started: reflex run --env prod (as make run) or python -m support_app.cli serve "
                        "on pages built by reflex export (as the Dockerfile); default auto: cli with Redis, run without")
    p.add_argument("--out", type=Path, default=None, help="save every figure as JSON here")
    p.add_argument("--port", type=int, default=int(os.environ.get("BENCH_PORT", 4400)),
                   help="the app's port; the sandbox gets the next one (default 4400)")
    p.add_argument("--redis-app", default=os.environ.get("BENCH_REDIS_APP", "redis://127.0.0.1:6379/6"),
                   help="SUPPORT_REDIS_URL of the redis configurations (the database is flushed!)")
    p.add_argument("--redis-state", default=os.environ.get("BENCH_REDIS_STATE", "redis://127.0.0.1:6379/7"),
                   help="REFLEX_REDIS_URL of the redis configurations (the database is flushed!)")
    p.add_argument("--customers", type=int, default=200, help="customer accounts to seed (default 200)")
    p.add_argument("--agents", type=int, default=10, help="agent accounts to seed (default 10)")
    p.add_argument("--agent-share", type=float, default=0.3, help="share of sessions that are agents (default 0.3)")
    p.add_argument("--ramp", type=float, default=None,
                   help="warm-up: sessions open the app and sign in spread over this many seconds "
                        "(default max(10, sessions/4): an argon2 verification costs ~0.25 core-second)")
    p.add_argument("--warmup-timeout", type=float, default=180.0,
                   help="start the measured window after this many seconds even if not every session signed in")
    p.add_argument("--pause", type=float, default=3.0, help="idle seconds between levels (default 3)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop",
                   help="the load generator's event loop (default uvloop; asyncio as runs before 2026-12-06)")
    p.add_argument("--keep-tmp", action="store_true", help="keep each configuration's temporary directory (logs, dbs)")
    p.add_argument("--app-env", action="append", type=app_env_arg, default=[], metavar="NAME=VALUE",
                   help="a setting for the app process, e.g. SUPPORT_SERVICE_THREADS=4 (repeatable); printed with the figures")
    args = p.parse_args(argv)
    args.app_env = dict(args.app_env)
    try:
        args.levels = [int(x) for x in args.levels.split(",") if x.strip()]
        lo, hi = (float(x) for x in args.think.split("-"))
        args.think = (lo, hi)
    except ValueError:
        p.error("--levels takes integers like 10,50 and --think a range like 0.5-1.5")
    args.configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = [c for c in args.configs if c not in CONFIGS]
    if args.redis_app == args.redis_state:
        p.error("--redis-app and --redis-state must be different databases (both are flushed)")
    if unknown or not args.levels or min(args.levels) < 1 or args.duration <= 0 or not 0 <= lo <= hi or args.workers < 1:
        p.error(f"unknown config {unknown}" if unknown else "levels >= 1, duration > 0, think min <= max, workers >= 1")
    return args


def run_loop(kind: str, coro):
    """Run the sessions on uvloop, as the app's workers run (less of the cores the generator
    shares with the app: 13 % of the machine at 200 sessions on asyncio's loop), or on
    asyncio's own loop (--loop asyncio, as every run before 2026-12-06 did)."""
    if kind == "uvloop":
        import uvloop

        return uvloop.run(coro)
    return asyncio.run(coro)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def say(text: str) -> None:
        print(text, flush=True)

    results = {
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "method": ("latency = first event sent -> last update of the action (page: is_hydrated true after the "
                   "on_load chain; other events: the update of a set_is_hydrated barrier event sent after them)"),
        "configs": {},
    }
    say(f"load benchmark: configs {','.join(args.configs)}, levels {args.levels}, {args.duration:.0f} s each, "
        f"think {args.think[0]}-{args.think[1]} s, workers {args.workers} (redis configs), ports {args.port}/{args.port + 1}, "
        f"generator loop {args.loop}"
        + "".join(f", {k}={v}" for k, v in args.app_env.items()))
    t0 = time.monotonic()
    for name in args.configs:
        run_config(name, args, results, say)
    results["total_s"] = round(time.monotonic() - t0, 1)
    say(summary_text(results))
    say(f"\n(total {results['total_s'] / 60:.1f} min" + (f"; figures saved to {args.out})" if args.out else ")"))
    save(args.out, results)
    return 0


if __name__ == "__main__":
    # `kill`/`timeout` ask like Ctrl-C does: the finally blocks stop the app and sandbox it started.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    sys.exit(main())
