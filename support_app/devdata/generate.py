"""Rows of a large, realistic dataset, generated in memory (no I/O): load.py writes them.

What is generated (deterministic for a given ``--seed`` and run date):

* 20 agents (``agent@example.com`` / ``agent2@example.com`` as in the demo, then
  ``agent03@example.com`` …) and N customers with unique lower-case emails and unique
  names. Every account's password is ``demo-pass-2026`` (one real argon2 hash, reused).
* One order snapshot per case: 1–4 lines, mostly EUR, amounts in minor units with
  ``amount_paid = Σ(qty·unit − discount + tax) + shipping + shipping_tax``.
* Support cases created over the last two years (ids follow creation time, numbers
  ``SC-%06d`` = id). Each case's life is simulated — first agent reply, an optional
  wait on the customer, refunds, resolution, closing — and cut at "now", so recent
  cases are open / in progress / waiting and old ones resolved or closed. Assignee,
  ``first_response_at``, ``resolved_at``, ``closed_at``, ``updated_at`` (last
  customer-visible change) and ``version`` follow from that history.
* Messages (≈2.4 per case: the agent's first reply, customer replies, some internal
  notes, a resolution reply) and case events (≈5 per case: created, assigned, each
  status change, refund requested/updated). To keep the load within minutes the
  ``reply``/``note`` events the app writes alongside each message are NOT generated.
* Refund cases (``RF-%06d``) on distinct delivered orders, 1–2 items each (quantities
  ≤ purchased, item amounts = the largest-first unit amounts of
  ``refund_amounts.unit_amounts``, shipping added for the shop's fault or a whole-order
  refund), requested inside the 14-day window; statuses follow the simulated decision
  (approve → processing → refunded/failed, retry, abandon, reject, settle, cancel).
  Refund events 2–4 each; attempts with unique idempotency keys for every refund that
  reached processing — at most one live (pending/unknown/succeeded) attempt per refund.

Customer data is written as the app writes it (security/crypto, models/search_index):
emails, names, subjects, descriptions, messages, event details, refund notes and
payment references encrypted under the keyring's current key with their column as AAD,
users.email_bidx, and the customer-name and case-subject term rows. The rows are made
in plaintext and sealed per chunk (``seal``), so the simulation above stays readable.
"""

from __future__ import annotations

import random
from math import gcd

from support_app.devdata.generate_refund import RefundLife
from support_app.devdata.generate_rows import (
    DAY, HOUR, MIN, TABLES, US, Clock, first_field, log_or_floor, pick, seal, weighted,
)
from support_app.devdata.generate_vocabulary import (
    AGENT_NAMES, AGENT_REPLIES, CATEGORIES, CAT_WEIGHTS, CAT_WEIGHTS_REFUND, CURRENCIES, CUSTOMER_REPLIES,
    DESCRIPTIONS, DOMAINS, FIRST, LAST_A, LAST_B, NOTES, PRIORITIES, PRIO_WEIGHTS, PRODUCTS, RESOLUTIONS, SUBJECTS,
)

PASSWORD = "demo-pass-2026"  # same as the demo accounts (devdata/demo.py)
N_AGENTS = 20

# ------------------------------------------------------------------ generator

class Generator(RefundLife):
    """Fills ``tables`` (name → list of row tuples, see TABLES) with users, then cases in chunks."""

    def __init__(self, customers: int, cases: int, refunds: int, seed: int, now_us: int, password_hash: str) -> None:
        self.n_customers, self.n_cases, self.n_refunds = customers, cases, refunds
        self.rng = random.Random(seed)
        self.now = now_us
        self.start = now_us - 730 * DAY
        self.clock = Clock(self.start - 4 * 365 * DAY, now_us)
        self.password_hash = password_hash
        self.tables: dict[str, list] = {name: [] for name in TABLES}
        self.seed = seed
        self.refund_id = 0
        self.refunds_left = refunds
        self.cases_left = cases
        self.status_counts: dict[str, int] = {}
        self.refund_status_counts: dict[str, int] = {}
        rng = self.rng
        self.pick_category = weighted(rng, CATEGORIES, CAT_WEIGHTS)
        self.pick_category_refund = weighted(rng, CATEGORIES, CAT_WEIGHTS_REFUND)
        self.pick_priority = weighted(rng, PRIORITIES, PRIO_WEIGHTS)
        self.pick_lines = weighted(rng, (1, 2, 3, 4), (45, 30, 15, 10))
        self.pick_qty = weighted(rng, (1, 2, 3, 4, 5), (65, 22, 9, 3, 1))
        self.pick_currency = weighted(rng, CURRENCIES, (85, 10, 5))
        # Some agents handle far more cases than others.
        self.pick_agent = weighted(rng, list(range(1, N_AGENTS + 1)), [30 - i for i in range(N_AGENTS)])

    # -------------------------------------------------------------- chunks
    def chunk(self, k: int, first: int, last: int) -> tuple[dict[str, list], dict[str, int], dict[str, int]]:
        """Cases ``first..last`` (inclusive) with everything hanging off them.

        A chunk depends only on (seed, k, first, last, sizes, now), never on another
        chunk, so chunks can be made in parallel and the file is the same either way:
        its own random stream, its exact share of the refunds (selection sampling inside
        the chunk), refund ids from its share's start, order-line ids ``4·(case-1)+n``.
        """
        self.rng.seed(self.seed * 1_000_003 + k)  # the pickers hold rng.random: they follow
        before = self.n_refunds * (first - 1) // self.n_cases
        self.refund_id = before
        self.refunds_left = self.n_refunds * last // self.n_cases - before
        self.cases_left = last - first + 1
        self.status_counts, self.refund_status_counts = {}, {}
        for cid in range(first, last + 1):
            self.case(cid)
        seal(self.tables)
        tables = self.tables
        self.tables = {name: [] for name in TABLES}
        return tables, self.status_counts, self.refund_status_counts

    # -------------------------------------------------------------- users
    def users(self) -> None:
        fmt, rows = self.clock.fmt, self.tables["users"]
        t_agents = self.start - 400 * DAY
        for i, (email, name) in enumerate(AGENT_NAMES[:N_AGENTS], start=1):
            rows.append((i, email, name, "agent", self.password_hash, None, fmt(t_agents + i * HOUR)))
        # A bijection from customer number to (first, middle initial, last name): unique names.
        n_last = len(LAST_A) * len(LAST_B)
        space = len(FIRST) * 26 * n_last
        if self.n_customers > space:
            raise SystemExit(f"at most {space} customers have unique names")
        step = 7_919_993 % space or 1
        while gcd(step, space) != 1:
            step += 1
        r = self.rng.random
        for k in range(self.n_customers):
            c = (k * step + 12_345) % space
            first = FIRST[c % len(FIRST)]
            c //= len(FIRST)
            initial = chr(65 + c % 26)
            c //= 26
            last = LAST_A[c // len(LAST_B)] + LAST_B[c % len(LAST_B)]
            uid = N_AGENTS + 1 + k
            email = f"{first}.{initial}.{last}@{DOMAINS[k % len(DOMAINS)]}".lower()
            created = self.start - int(r() * 3 * 365 * DAY)
            rows.append((uid, email, f"{first} {initial}. {last}", "customer", self.password_hash, f"LC-{100000 + k}", fmt(created)))
        seal(self.tables)

    def pick_customer(self) -> int:
        """Customer user id; a third of the cases come from a skewed group of frequent customers."""
        r = self.rng.random
        n = self.n_customers
        k = int(n * r() ** 1.5) if r() < 0.3 else int(n * r())
        return N_AGENTS + 1 + min(k, n - 1)

    # -------------------------------------------------------------- one case
    def case(self, cid: int) -> None:
        rng = self.rng
        r = rng.random
        fmt = self.clock.fmt
        now = self.now
        T = self.tables

        span = self.now - 2 * HOUR - self.start
        t0 = self.start + (span * cid) // self.n_cases - int(r() * (span // self.n_cases))  # increasing with id

        # Refund on this case? Selection sampling: exactly n_refunds distinct cases.
        has_refund = self.refunds_left > 0 and r() * self.cases_left < self.refunds_left
        self.cases_left -= 1
        if has_refund:
            self.refunds_left -= 1
        category = self.pick_category_refund() if has_refund else self.pick_category()
        customer = self.pick_customer()

        # ---- order snapshot
        currency, rates = self.pick_currency()
        rate = pick(r, rates)
        undelivered = not has_refund and category in ("delivery", "missing_item") and r() < 0.4
        delivered = None if undelivered else t0 - int((0.1 + r() * 11.5) * DAY)
        placed = (delivered or t0) - int((1 + r() * 5) * DAY)
        cust_k = customer - N_AGENTS
        order_id = f"ORD-{100000 + cust_k}-{cid}"
        lines = []
        items_total = 0
        for n in range(1, self.pick_lines() + 1):
            sku, name, price = pick(r, PRODUCTS)
            qty = self.pick_qty()
            unit = price + (int(r() * 5) - 2) * 50 if r() < 0.3 else price
            discount = (qty * unit * pick(r, (5, 10, 15, 20))) // 100 if r() < 0.25 else 0
            tax = ((qty * unit - discount) * rate + 50) // 100
            line_pk = 4 * (cid - 1) + n  # at most 4 lines: ids stay unique whatever the chunking
            lines.append((line_pk, f"L{n}", name, qty, unit, discount, tax))
            T["order_lines"].append((line_pk, cid, f"L{n}", sku, name, qty, unit, discount, tax))
            items_total += qty * unit - discount + tax
        shipping = 0 if r() < 0.3 else pick(r, (395, 495, 695, 995))
        shipping_tax = (shipping * rate + 50) // 100
        paid = items_total + shipping + shipping_tax
        T["order_snapshots"].append((
            cid, order_id, customer, currency, fmt(placed), None if delivered is None else fmt(delivered),
            shipping, shipping_tax, paid, f"PAY-{order_id[4:]}", fmt(t0),
        ))

        # ---- the case's history, simulated in full, then cut at now
        number = f"SC-{cid:06d}"
        product = lines[0][2].lower()
        subject = pick(r, SUBJECTS[category]) % (order_id if category == "delivery" else product)
        if r() < 0.5:
            description = pick(r, DESCRIPTIONS[:1] + DESCRIPTIONS[2:3]) % (order_id, product)
        else:
            description = pick(r, DESCRIPTIONS[1:2] + DESCRIPTIONS[3:]) % (product, order_id)
        agent = self.pick_agent()
        ev: list[tuple] = [(t0, customer, "created", None, "open", None, 0, True)]  # (t, actor, kind, from, to, detail, internal, visible)
        msgs: list[tuple] = []
        withdrawn = not has_refund and r() < 0.02
        if withdrawn:
            ev.append((t0 + int((0.2 + r() * 20) * HOUR), customer, "status_changed", "open", "closed", "No longer needed", 0, True))
            last = t0
        else:
            # First reply: usually within hours, in busy weeks days later; a few are forgotten.
            backlog = r()
            mean_wait = 6 * HOUR if backlog < 0.85 else 4 * DAY if backlog < 0.998 else 3 * 365 * DAY
            t_first = t0 + int((5 + r() * 60) * MIN) + int(-mean_wait * log_or_floor(r()))
            # Mostly assigned when an agent picks the case up; some triaged to someone early.
            t_assign = t_first - int((1 + r() * 20) * MIN) if r() < 0.8 else t0 + int((2 + r() * 120) * MIN)
            t_assign = max(t_assign, t0 + US)
            ev.append((t_assign, agent, "assigned", None, None, AGENT_NAMES[agent - 1][1], 0, True))
            ev.append((t_first, agent, "status_changed", "open", "in_progress", None, 0, True))
            msgs.append((t_first, agent, "public", pick(r, AGENT_REPLIES)))
            last = t_first
            if r() < 0.3:
                t_wait = t_first + int((1 + r() * 60) * MIN)
                ev.append((t_wait, agent, "status_changed", "in_progress", "waiting_on_customer", "Asked for photos", 0, True))
                if r() < 0.95:
                    t_back = t_wait + int((0.5 + r() * 48) * HOUR)
                    msgs.append((t_back, customer, "public", pick(r, CUSTOMER_REPLIES)))
                    ev.append((t_back, customer, "status_changed", "waiting_on_customer", "in_progress", "customer replied", 0, True))
                    last = t_back
                else:
                    last = None  # the customer never answered: the case waits for ever
            elif r() < 0.35:
                t_c = t_first + int((0.5 + r() * 30) * HOUR)
                msgs.append((t_c, customer, "public", pick(r, CUSTOMER_REPLIES)))
                last = t_c
            if r() < 0.25:
                t_note = t_first + int(r() * 20 * HOUR)
                msgs.append((t_note, agent, "internal", pick(r, NOTES)))

        # ---- refund
        if has_refund:
            t_req = t0 + int((1 + r() * 600) * MIN)
            if t_req >= now:  # a case opened just now: its request came in meanwhile
                t_req = t0 + int((now - t0) * r())
            t_req = min(t_req, delivered + 14 * DAY - MIN)  # inside the window
            t_end = self.refund(cid, customer, agent, t_req, max(t_req, t_first), delivered, currency, category, lines, shipping + shipping_tax, paid, ev, msgs)
            if last is not None:
                last = max(last, t_end)

        # ---- resolution and closing
        if last is not None and not withdrawn:
            stuck = r()
            if stuck > 0.005:  # a few stay in progress for ever
                t_res = last + int((0.5 + r() * 4) * HOUR) + int(-1.5 * DAY * log_or_floor(r()))
                ev.append((t_res, agent, "status_changed", "in_progress", "resolved", None, 0, True))
                if r() < 0.5:
                    msgs.append((t_res, agent, "public", pick(r, RESOLUTIONS)))
                if stuck > 0.10:  # most are closed: by the customer or after a week
                    by_customer = r() < 0.4
                    t_close = t_res + int((0.1 + r() * (2 if by_customer else 7)) * DAY)
                    ev.append((t_close, customer if by_customer else agent, "status_changed", "resolved", "closed",
                               "Thanks!" if by_customer else None, 0, True))

        # ---- cut the story at now and derive the case row
        status, assignee = "open", None
        updated = t0
        first_response = resolved_at = closed_at = None
        version = 1
        ce = T["case_events"]
        ev.sort(key=first_field)
        for t, actor, kind, src, dst, detail, internal, visible in ev:
            if t > now:
                break
            ce.append((cid, actor, kind, src, dst, detail, internal, fmt(t)))
            if kind != "created":
                version += 1
                if visible:
                    updated = t
            if dst is not None and kind == "status_changed":
                status = dst
                if dst == "resolved":
                    resolved_at = t
                elif dst == "closed":
                    closed_at = t
            elif kind == "assigned":
                assignee = actor
        cm = T["case_messages"]
        msgs.sort(key=first_field)
        for t, author, visibility, body in msgs:
            if t > now:
                break
            cm.append((cid, author, visibility, body, fmt(t)))
            version += 1
            if visibility == "public":
                updated = max(updated, t)
                if first_response is None and author <= N_AGENTS:
                    first_response = t
        self.status_counts[status] = self.status_counts.get(status, 0) + 1
        T["support_cases"].append((
            cid, number, customer, cid, subject, description, category, self.pick_priority(), status, assignee, version,
            fmt(t0), fmt(updated), None if first_response is None else fmt(first_response),
            None if resolved_at is None else fmt(resolved_at), None if closed_at is None else fmt(closed_at),
        ))

# A worker process's generator (multiprocessing: made once per process by init_worker).
_WORKER: Generator | None = None


def init_worker(*args) -> None:
    global _WORKER
    _WORKER = Generator(*args)


def make_chunk(k: int, first: int, last: int):
    assert _WORKER is not None
    return _WORKER.chunk(k, first, last)
