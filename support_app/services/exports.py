"""CSV export of the overviews: the same filters, streamed in bounded memory, with a
byte-order mark and headers a person reads (for Excel)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator

from sqlalchemy.engine import Engine

from support_app.db import session_scope
from support_app.domain.money import decimal_text
from support_app.domain.overview_rules import parse_overview_query
from support_app.domain.errors import DomainError, ErrorCode
from support_app.kv import KV, get_kv
from support_app.security import tokens
from support_app.services.auth_service import Identity, check_sign_in
from support_app.services.overview_queries import iter_refund_case_rows, iter_support_case_rows
from support_app.services.overview_views import RefundOverviewRow, SupportOverviewRow

KINDS = {"cases": "support", "refunds": "refund"}
# Excel opens a CSV as UTF-8 (names with accents, "€") only when it starts with a byte-order mark.
BOM = "\ufeff"
# (header a person reads, the value from an overview row). Statuses and priorities as
# the pages name them; amounts as plain decimals in the refund's currency (a spreadsheet
# can add them up; the currency is its own column); times are ISO-8601 UTC.
SUPPORT_COLUMNS: list[tuple[str, Callable[[SupportOverviewRow], object]]] = [
    ("Case", lambda r: r.number),
    ("Status", lambda r: r.status_label),
    ("Subject", lambda r: r.subject),
    ("Category", lambda r: r.category_label),
    ("Priority", lambda r: r.priority_label),
    ("Customer", lambda r: r.customer_name),
    ("Customer email", lambda r: r.customer_email),
    ("Order", lambda r: r.order_id),
    ("Assignee", lambda r: r.assignee_name),
    ("Created (UTC)", lambda r: r.created_at),
    ("Updated (UTC)", lambda r: r.updated_at),
]
REFUND_COLUMNS: list[tuple[str, Callable[[RefundOverviewRow], object]]] = [
    ("Refund", lambda r: r.number),
    ("Status", lambda r: r.status_label),
    ("Reason", lambda r: r.reason_label),
    ("Amount", lambda r: decimal_text(r.amount_minor, r.currency)),
    ("Currency", lambda r: r.currency),
    ("Customer", lambda r: r.customer_name),
    ("Customer email", lambda r: r.customer_email),
    ("Order", lambda r: r.order_id),
    ("Case", lambda r: r.case_number),
    ("Assignee", lambda r: r.assignee_name),
    ("Requested (UTC)", lambda r: r.requested_at),
    ("Updated (UTC)", lambda r: r.updated_at),
]


def export_link(caller: Identity, kind: str, params: dict[str, str]) -> str:
    """A URL the browser can download from once, within two minutes, in the same
    sign-in (the access token never leaves the server; this stands in for it)."""
    from urllib.parse import urlencode

    if not caller.family_id:
        raise DomainError(ErrorCode.NOT_AUTHENTICATED)
    token = tokens.create_download_token(caller.id, caller.family_id, f"{kind}.csv")
    return f"/api/export/{kind}.csv?" + urlencode({**params, "token": token})


def csv_stream(
    token: str, session_family: str, kind: str, raw: dict[str, str], batch: int = 1000, *, kv: KV | None = None,
    engine: Engine | None = None,
) -> Iterator[str]:
    """Authenticate first (raises), then yield CSV text a batch at a time.

    The link works once (its id is spent in the KV), only for the sign-in that asked
    for it (``session_family``: the sign-in of the cookie sent with the download) and
    only while that sign-in lasts: a copied link is useless elsewhere or after sign-out."""
    claims = tokens.decode_download_token(token, f"{kind}.csv")
    if claims.family_id != session_family:
        raise DomainError(ErrorCode.TOKEN_INVALID, "This download link belongs to another sign-in.")
    with session_scope(engine) as session:
        user = check_sign_in(session, claims.family_id, claims.user_id)
    if not (kv or get_kv()).set_if_absent(f"download:{claims.jti}", "1", tokens.DOWNLOAD_SECONDS + 60):
        raise DomainError(ErrorCode.TOKEN_INVALID, "This download link was already used. Export again.")
    caller = Identity(user.id, user.role, claims.family_id)
    query = parse_overview_query(raw, KINDS[kind])  # type: ignore[arg-type]
    columns: list = SUPPORT_COLUMNS if kind == "cases" else REFUND_COLUMNS
    rows_of = iter_support_case_rows if kind == "cases" else iter_refund_case_rows

    def generate() -> Iterator[str]:
        buffer = io.StringIO()
        buffer.write(BOM)
        writer = csv.writer(buffer)
        writer.writerow([header for header, _ in columns])
        with session_scope(engine) as session:
            for n, row in enumerate(rows_of(session, caller, query, batch), start=1):
                writer.writerow([_safe(value(row)) for _, value in columns])
                if n % batch == 0:
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
        yield buffer.getvalue()

    return generate()


def _safe(value: object) -> object:
    """Spreadsheets run cells that start with = + - @ as formulas; quote them."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
