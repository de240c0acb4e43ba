"""Overview lists (support cases, refund cases): the URL's query parameters parsed
into one validated OverviewQuery, and the opaque keyset cursor.

Pure: no I/O. Whatever arrives in a URL is untrusted. Enumerations (statuses, reason,
sort, direction, page size) are allow-listed: unknown values are dropped and noted in
``problems``. Free text (customer, q, order id) is never interpreted as anything but a
literal value; text that cannot be valid (too long, control characters) makes the
query match nothing (``matches_nothing``) rather than widening it. A cursor that does
not decode strictly is ignored, so the list starts from page 1 — never an error.

Customer data is encrypted at rest, so text is matched through blind indexes of whole
values and words, never by substring: the customer filter is an exact email or name
words (``CustomerFilter``), and ``q`` that is not a number or an email is an order id
or else words of the subject (``Search``). Words are normalised by domain/search_terms.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from typing import Literal

from support_app.domain.case_rules import CaseStatus, Category, Priority
from support_app.domain.refund_rules import RefundReason, RefundStatus
from support_app.domain.search_terms import MAX_QUERY_WORDS, name_query, subject_query

Kind = Literal["support", "refund"]
Travel = Literal["next", "prev"]

PAGE_SIZES = (10, 25, 50, 100)
DEFAULT_PAGE_SIZE = 25
SORTS: dict[str, tuple[str, ...]] = {"support": ("created", "updated"), "refund": ("created", "updated", "amount")}
DIRECTIONS = ("desc", "asc")
STATUSES: dict[str, tuple[str, ...]] = {
    "support": tuple(s.value for s in CaseStatus),
    "refund": tuple(s.value for s in RefundStatus),
}
REASONS = tuple(r.value for r in RefundReason)
PRIORITIES = tuple(p.value for p in Priority)
CATEGORIES = tuple(c.value for c in Category)
# Amounts are compared only within one currency (€100 and $100 are not the same
# amount, and there is no exchange rate here): sorting or bounding refunds by amount
# is done within the chosen currency, this one when none is chosen.
AMOUNT_CURRENCY = "EUR"
CURRENCY_RE = re.compile(r"^[A-Z]{3}$", re.ASCII)
CUSTOMER_MAX = 100
Q_MAX = 254
ORDER_ID_MAX = 64
AMOUNT_RE = re.compile(r"^\d{1,10}(?:\.\d{1,2})?$")
NUMBER_RE = re.compile(r"^(SC|RF)-?0*(\d{1,12})$", re.IGNORECASE | re.ASCII)
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+$")
CURSOR_MAX = 300
MAX_ID = 2**63 - 1
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Cursor:
    """A position in the list: the sort value and id of a row, and which way to go
    from it ("next": the rows after it in display order; "prev": the rows before)."""

    value: int | datetime
    id: int
    travel: Travel


@dataclass(frozen=True)
class Search:
    """What ``q`` was understood as. ``kind``: case_number | refund_number | email |
    text — an order id (``value``, literally) if there is such an order, else the
    support cases whose subject has every one of ``words`` (whole words, 2+ characters)."""

    kind: str
    value: str
    words: tuple[str, ...] = ()


@dataclass(frozen=True)
class CustomerFilter:
    """The customer text: an exact ``email`` (text with an "@"), else name ``words``,
    all of which must match a word of the customer's name — a word of 3 or more
    characters as a prefix ("ken" finds Kenji), a shorter one as the whole word."""

    email: str = ""
    words: tuple[str, ...] = ()


@dataclass(frozen=True)
class OverviewQuery:
    kind: Kind = "support"
    statuses: tuple[str, ...] = ()
    date_from: date | None = None  # inclusive, UTC day, of ``date_field``
    date_to: date | None = None  # inclusive, UTC day
    customer: str = ""  # an exact email or name words/prefixes (agents only): see customer_filter
    order_id: str = ""
    assignee: str = ""  # "me" | "none" | agent id (support cases, agents only)
    priority: str = ""  # support only
    category: str = ""  # support only
    reason: str = ""  # refund only
    amount_min: int | None = None  # minor units (2 decimals), refund only
    amount_max: int | None = None
    currency: str = ""  # ISO code, refund only; set whenever amounts are sorted or bounded
    q: str = ""
    sort: str = "created"
    direction: str = "desc"
    size: int = DEFAULT_PAGE_SIZE
    cursor: Cursor | None = None
    raw_cursor: str = ""
    matches_nothing: bool = False  # free text that cannot match anything was given
    problems: dict[str, str] = field(default_factory=dict, compare=False)

    # -- derived -------------------------------------------------------------

    @property
    def search(self) -> Search | None:
        return classify_search(self.q) if self.q else None

    @property
    def customer_filter(self) -> CustomerFilter | None:
        return classify_customer(self.customer) if self.customer else None

    @property
    def date_field(self) -> str:
        """The date the range filters: the one the list is sorted by — "updated" when
        sorted by last update, else "created" (requested, for refunds)."""
        return "updated" if self.sort == "updated" else "created"

    @property
    def day_from(self) -> datetime | None:
        """Inclusive lower bound: the start of ``date_from`` (UTC)."""
        return datetime(self.date_from.year, self.date_from.month, self.date_from.day, tzinfo=timezone.utc) if self.date_from else None

    @property
    def day_before(self) -> datetime | None:
        """Exclusive upper bound: the start of the day after ``date_to`` (UTC)."""
        if self.date_to is None:
            return None
        nxt = self.date_to + timedelta(days=1)
        return datetime(nxt.year, nxt.month, nxt.day, tzinfo=timezone.utc)

    @property
    def descending(self) -> bool:
        return self.direction == "desc"

    # -- back to a URL -------------------------------------------------------

    def to_params(self, **changes: object) -> dict[str, str]:
        """The query as URL parameters (defaults left out). ``changes`` override fields
        first, e.g. ``to_params(cursor=page.next_cursor)``; changing any filter or the
        sort drops the cursor, since a position in one list means nothing in another."""
        q = self
        raw_cursor = changes.pop("cursor", None)
        if changes:
            q = replace(self, **changes)  # type: ignore[arg-type]
            q = replace(q, cursor=None, raw_cursor="")
        params: dict[str, str] = {}
        if q.statuses:
            params["status"] = ",".join(q.statuses)
        if q.date_from:
            params["date_from"] = q.date_from.isoformat()
        if q.date_to:
            params["date_to"] = q.date_to.isoformat()
        for name in ("customer", "order_id", "assignee", "priority", "category", "reason", "currency", "q"):
            if getattr(q, name):
                params[name] = getattr(q, name)
        if q.amount_min is not None:
            params["amount_min"] = minor_to_text(q.amount_min)
        if q.amount_max is not None:
            params["amount_max"] = minor_to_text(q.amount_max)
        if q.sort != "created":
            params["sort"] = q.sort
        if q.direction != "desc":
            params["direction"] = q.direction
        if q.size != DEFAULT_PAGE_SIZE:
            params["size"] = str(q.size)
        cursor = q.raw_cursor if raw_cursor is None else str(raw_cursor)
        if cursor:
            params["cursor"] = cursor
        return params


# -- parsing ---------------------------------------------------------------------


def _one(raw: dict, name: str) -> str:
    """The last value of a parameter as a string ('' when absent or not text)."""
    value = raw.get(name)
    if isinstance(value, (list, tuple)):
        value = value[-1] if value else ""
    return value if isinstance(value, str) else ""


def _many(raw: dict, name: str) -> list[str]:
    value = raw.get(name)
    items = value if isinstance(value, (list, tuple)) else [value]
    out: list[str] = []
    for item in items:
        if isinstance(item, str) and len(item) <= 1000:
            out.extend(part.strip() for part in item.split(",") if part.strip())
    return out


def parse_overview_query(raw: dict | None, kind: Kind) -> OverviewQuery:
    """Build a valid query from untrusted URL parameters. Never raises."""
    raw = raw if isinstance(raw, dict) else {}
    problems: dict[str, str] = {}
    nothing = False

    allowed = STATUSES[kind]
    wanted = _many(raw, "status") or _many(raw, "statuses")
    statuses = tuple(dict.fromkeys(s for s in wanted if s in allowed))
    if len(statuses) != len(set(wanted)):
        problems["status"] = "Some statuses were not recognised and were left out."
    if set(statuses) == set(allowed):
        statuses = ()  # every status: no filter at all

    date_from = _parse_day(_one(raw, "date_from"), "date_from", problems)
    date_to = _parse_day(_one(raw, "date_to"), "date_to", problems)
    if date_from and date_to and date_from > date_to:
        date_from, date_to = date_to, date_from

    def text(name: str, limit: int) -> str:
        nonlocal nothing
        value = _one(raw, name).strip()
        if len(value) > limit or _CONTROL.search(value):
            problems[name] = f"That text is too long or not valid (at most {limit} characters)."
            nothing = True
            return ""
        return value

    customer = text("customer", CUSTOMER_MAX)
    if customer:
        found = classify_customer(customer)
        if not found.email and not 1 <= len(found.words) <= MAX_QUERY_WORDS:
            problems["customer"] = f"Type an email, or 1 to {MAX_QUERY_WORDS} words of the customer's name."
            nothing = True
    order_id = text("order_id", ORDER_ID_MAX)
    q = text("q", Q_MAX)

    assignee = priority = category = ""
    if kind == "support":
        value = _one(raw, "assignee").strip().lower()
        if value in ("me", "none") or (value.isdigit() and value.isascii() and len(value) <= 18 and int(value) > 0):
            assignee = value
        elif value:
            problems["assignee"] = "Unknown assignee; the filter was left out."
        value = _one(raw, "priority").strip().lower()
        if value in PRIORITIES:
            priority = value
        elif value:
            problems["priority"] = "Unknown priority; the filter was left out."
        value = _one(raw, "category").strip().lower()
        if value in CATEGORIES:
            category = value
        elif value:
            problems["category"] = "Unknown category; the filter was left out."

    reason, amount_min, amount_max, currency = "", None, None, ""
    if kind == "refund":
        value = _one(raw, "reason").strip()
        if value in REASONS:
            reason = value
        elif value:
            problems["reason"] = "Unknown reason; the filter was left out."
        amount_min = _parse_amount(_one(raw, "amount_min"), "amount_min", problems)
        amount_max = _parse_amount(_one(raw, "amount_max"), "amount_max", problems)
        if amount_min is not None and amount_max is not None and amount_min > amount_max:
            amount_min, amount_max = amount_max, amount_min
        value = _one(raw, "currency").strip().upper()
        if CURRENCY_RE.match(value):
            currency = value
        elif value:
            problems["currency"] = "Unknown currency; the filter was left out."

    sort = _one(raw, "sort").strip() or "created"
    if sort not in SORTS[kind]:
        problems["sort"] = "Unknown sort; showing newest first."
        sort = "created"
    direction = _one(raw, "direction").strip() or "desc"
    if direction not in DIRECTIONS:
        problems["direction"] = "Unknown direction; showing newest first."
        direction = "desc"
    size_text = _one(raw, "size").strip() or _one(raw, "page_size").strip()
    size = int(size_text) if size_text.isdigit() and size_text.isascii() and len(size_text) <= 3 else 0
    if size not in PAGE_SIZES:
        if size_text:
            problems["size"] = f"Page size must be one of {', '.join(map(str, PAGE_SIZES))}."
        size = DEFAULT_PAGE_SIZE

    if kind == "refund" and not currency and (sort == "amount" or amount_min is not None or amount_max is not None):
        currency = AMOUNT_CURRENCY
    raw_cursor = _one(raw, "cursor").strip()
    cursor = decode_cursor(raw_cursor, sort)
    return OverviewQuery(
        kind=kind, statuses=statuses, date_from=date_from, date_to=date_to, customer=customer,
        order_id=order_id, assignee=assignee, priority=priority, category=category, reason=reason, amount_min=amount_min, amount_max=amount_max,
        currency=currency,
        q=q, sort=sort, direction=direction, size=size, cursor=cursor,
        raw_cursor=raw_cursor if cursor else "", matches_nothing=nothing, problems=problems,
    )


def _parse_day(value: str, name: str, problems: dict[str, str]) -> date | None:
    value = value.strip()
    if not value:
        return None
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value, re.ASCII):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    problems[name] = "Enter a date as YYYY-MM-DD."
    return None


def _parse_amount(value: str, name: str, problems: dict[str, str]) -> int | None:
    """"12.5" → 1250 minor units (two decimals; exact, no float)."""
    value = value.strip()
    if not value:
        return None
    if not AMOUNT_RE.match(value) or not value.isascii():
        problems[name] = "Enter an amount like 12.50."
        return None
    whole, _, frac = value.partition(".")
    return int(whole) * 100 + int((frac + "00")[:2])


def minor_to_text(minor: int) -> str:
    return f"{minor // 100}.{minor % 100:02d}"


def classify_search(q: str) -> Search:
    """SC-000123 / RF-45 (any case, dash optional) → a number; text with one "@" →
    an email (exact, lower-cased); anything else → an order id, matched literally, or
    else subject words (none when there are more than MAX_QUERY_WORDS: never widened)."""
    text = q.strip()
    m = NUMBER_RE.match(text)
    if m:
        return Search("case_number" if m.group(1).upper() == "SC" else "refund_number", f"{m.group(1).upper()}-{int(m.group(2)):06d}")
    if EMAIL_RE.match(text):
        return Search("email", text.lower())
    words = subject_query(text)
    return Search("text", text, words if len(words) <= MAX_QUERY_WORDS else ())


def classify_customer(text: str) -> CustomerFilter:
    """Text with an "@" → that exact email (lower-cased); else its name words."""
    text = text.strip()
    if "@" in text:
        return CustomerFilter(email=text.lower())
    return CustomerFilter(words=name_query(text))


# -- cursors ---------------------------------------------------------------------


def encode_cursor(value: int | datetime, row_id: int, travel: Travel) -> str:
    """url-safe base64 of JSON [sort value, id, travel]; datetimes as ISO-8601 UTC."""
    shown: int | str = value.astimezone(timezone.utc).isoformat() if isinstance(value, datetime) else value
    data = json.dumps([shown, row_id, travel], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def decode_cursor(text: str, sort: str) -> Cursor | None:
    """The cursor if ``text`` is exactly what encode_cursor makes for this sort, else None."""
    if not text or len(text) > CURSOR_MAX or not re.fullmatch(r"[A-Za-z0-9_-]+", text):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, list) or len(data) != 3:
        return None
    value, row_id, travel = data
    if type(row_id) is not int or not 0 < row_id <= MAX_ID or travel not in ("next", "prev"):
        return None
    if sort == "amount":
        if type(value) is not int or abs(value) > MAX_ID:
            return None
        return Cursor(value, row_id, travel)
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return Cursor(moment.astimezone(timezone.utc), row_id, travel)
