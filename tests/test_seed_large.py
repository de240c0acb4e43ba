"""The large-dataset generator, run small: its rows obey the same rules as the app's."""

from __future__ import annotations

import sqlite3

from fixtures_db import keep_logging  # noqa: F401
from support_app import seed_large


def test_small_seed_is_consistent(tmp_path, keep_logging):  # noqa: F811
    path = tmp_path / "large.db"
    assert seed_large.main(["--path", str(path), "--customers", "60", "--cases", "400", "--refunds", "120", "--workers", "1"]) == 0
    db = sqlite3.connect(path)
    one = lambda sql: db.execute(sql).fetchone()[0]  # noqa: E731
    assert one("select count(*) from support_cases") == 400
    assert one("select count(*) from refund_cases") == 120
    assert one("select count(*) from users where role = 'customer'") == 60
    assert db.execute("pragma foreign_key_check").fetchall() == []
    assert one("select count(*) from support_cases where number != printf('SC-%06d', id)") == 0
    assert one("select count(*) from refund_cases where number != printf('RF-%06d', id)") == 0
    # A refund never holds more units of a line than were bought.
    assert one(
        "select count(*) from (select ri.order_line_id, sum(ri.quantity) q, ol.quantity bought from refund_items ri "
        "join refund_cases rc on rc.id = ri.refund_case_id join order_lines ol on ol.id = ri.order_line_id "
        "where rc.status not in ('rejected', 'cancelled') group by ri.order_line_id having q > bought)"
    ) == 0
    # At most one live gateway attempt per refund (the partial unique index held during the load).
    assert one(
        "select count(*) from (select refund_case_id from refund_attempts "
        "where status in ('pending', 'unknown', 'succeeded') group by refund_case_id having count(*) > 1)"
    ) == 0
    # Indexes dropped for the load are back.
    names = {r[0] for r in db.execute("select name from sqlite_master where type = 'index'")}
    assert {"ix_support_cases_created_id", "ix_refund_cases_amount_id", "uq_refund_attempts_one_live"} <= names
    db.close()
