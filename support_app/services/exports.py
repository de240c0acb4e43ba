"""CSV export of the overviews: the same filters, streamed in bounded memory."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from support_app.db import session_scope
from support_app.domain.overview_rules import parse_overview_query
from support_app.security import tokens
from support_app.services.auth_service import active_user
from support_app.services.overview_queries import iter_refund_case_rows, iter_support_case_rows
from support_app.services.runner import run_sync
from support_app.services.views import Caller

KINDS = {"cases": "support", "refunds": "refund"}
SUPPORT_COLUMNS = ["number", "status", "subject", "category_label", "priority", "customer_name", "customer_email",
                   "order_id", "assignee_name", "created_at", "updated_at"]
REFUND_COLUMNS = ["number", "status", "reason_label", "amount", "currency", "customer_name", "customer_email",
                  "order_id", "case_number", "assignee_name", "requested_at", "updated_at"]


def export_link(caller: Caller, kind: str, params: dict[str, str]) -> str:
    """A URL the browser can download from for two minutes."""
    from urllib.parse import urlencode

    token = tokens.create_download_token(caller.id, f"{kind}.csv")
    return f"/api/export/{kind}.csv?" + urlencode({**params, "token": token})


def csv_stream(token: str, kind: str, raw: dict[str, str], batch: int = 1000) -> Iterator[str]:
    """Authenticate first (raises), then yield CSV text a batch at a time."""
    user_id = tokens.decode_download_token(token, f"{kind}.csv")
    caller = run_sync(active_user, user_id)
    query = parse_overview_query(raw, KINDS[kind])  # type: ignore[arg-type]
    columns = SUPPORT_COLUMNS if kind == "cases" else REFUND_COLUMNS
    rows_of = iter_support_case_rows if kind == "cases" else iter_refund_case_rows

    def generate() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(columns)
        with session_scope() as session:
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
