"""CSV export of the overviews: the same filters, streamed in bounded memory."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from sqlalchemy.engine import Engine

from support_app.db import session_scope
from support_app.domain.overview_rules import parse_overview_query
from support_app.domain.errors import DomainError, ErrorCode
from support_app.kv import KV, get_kv
from support_app.security import tokens
from support_app.services.auth_service import Identity, check_sign_in
from support_app.services.overview_queries import iter_refund_case_rows, iter_support_case_rows

KINDS = {"cases": "support", "refunds": "refund"}
SUPPORT_COLUMNS = ["number", "status", "subject", "category_label", "priority", "customer_name", "customer_email",
                   "order_id", "assignee_name", "created_at", "updated_at"]
REFUND_COLUMNS = ["number", "status", "reason_label", "amount", "currency", "customer_name", "customer_email",
                  "order_id", "case_number", "assignee_name", "requested_at", "updated_at"]


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
    columns = SUPPORT_COLUMNS if kind == "cases" else REFUND_COLUMNS
    rows_of = iter_support_case_rows if kind == "cases" else iter_refund_case_rows

    def generate() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(columns)
        with session_scope(engine) as session:
            for n, row in enumerate(rows_of(session, caller, query, batch), start=1):
                writer.writerow([_safe(getattr(row, c)) for c in columns])
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
