"""The large-dataset generator, run small: its rows obey the same rules as the app's."""

from __future__ import annotations

import sqlite3

import httpx

from fixtures_db import keep_logging  # noqa: F401
from fixtures_http import serve_asgi
from support_app.devdata import large
from support_app.integrations.order_client import OrderClient
from support_app.models.search_index import NAME, SUBJECT, email_index, term_index
from support_app.sandbox.app import create_sandbox_app
from support_app.security.crypto import get_keyring

SMALL = ["--customers", "60", "--cases", "400", "--refunds", "120", "--workers", "1"]


def test_small_seed_is_consistent(tmp_path, keep_logging):  # noqa: F811
    path = tmp_path / "large.db"
    assert large.main(["--path", str(path), *SMALL]) == 0
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
    # Customer data is ciphertext under the current key, with its blind indexes and terms.
    keyring = get_keyring()
    for table, column in (("users", "email"), ("users", "full_name"), ("support_cases", "subject"),
                          ("support_cases", "description"), ("case_messages", "body"), ("case_events", "detail"),
                          ("refund_cases", "note"), ("refund_cases", "decision_note"), ("refund_events", "detail"),
                          ("order_snapshots", "payment_reference")):
        values = [v for (v,) in db.execute(f"select {column} from {table}") if v is not None]
        assert values and all(v.startswith(keyring.current_prefix) for v in values), (table, column)
        keyring.decrypt(values[-1], f"{table}.{column}")
    email, name, bidx = db.execute("select email, full_name, email_bidx from users where id = 21").fetchone()
    email, name = keyring.decrypt(email, "users.email"), keyring.decrypt(name, "users.full_name")
    assert bidx == email_index(email) and "@" in email
    first = name.split()[0].lower()
    assert db.execute("select count(*) from customer_name_terms where user_id = 21 and term_bidx in (?, ?)",
                      (term_index(NAME, first), term_index(NAME, first[:3]))).fetchone()[0] == 2
    assert one("select count(distinct user_id) from customer_name_terms") == 60  # customers, not agents
    subject = keyring.decrypt(db.execute("select subject from support_cases where id = 7").fetchone()[0], "support_cases.subject")
    word = max(subject.split(), key=len).strip("?().").lower()
    assert db.execute("select count(*) from case_subject_terms where case_id = 7 and term_bidx = ?",
                      (term_index(SUBJECT, word),)).fetchone()[0] == 1
    assert one("select count(distinct case_id) from case_subject_terms") == 400
    # Indexes dropped for the load are back.
    names = {r[0] for r in db.execute("select name from sqlite_master where type = 'index'")}
    assert {"ix_support_cases_created_id", "ix_refund_cases_amount_id", "uq_refund_attempts_one_live"} <= names
    db.close()


def test_generated_orders_are_loaded_into_the_sandbox(tmp_path, keep_logging):  # noqa: F811
    """--sandbox-url: every generated order is then known to the order system and the gateway."""
    path = tmp_path / "large.db"
    app = create_sandbox_app(tmp_path / "sandbox.db", webhook_url=None, webhook_secret="")
    with serve_asgi(app) as base:
        catalogue = httpx.get(f"{base}/health").json()["orders"]  # the demo catalogue the sandbox starts with
        assert large.main(["--path", str(path), *SMALL, "--sandbox-url", base, "--sandbox-batch", "150"]) == 0
        assert httpx.get(f"{base}/health").json()["orders"] == catalogue + 400  # plus one per case
        db = sqlite3.connect(path)
        snapshots = db.execute(
            "select s.order_id, u.order_customer_id, s.amount_paid, s.payment_reference, s.delivered_at is not null, "
            "(select count(*) from order_lines l where l.snapshot_id = s.id) from order_snapshots s "
            "join users u on u.id = s.customer_id where s.id in (1, 137, 400)").fetchall()
        db.close()
        assert len(snapshots) == 3
        with OrderClient(f"{base}/orders", timeout_seconds=5) as client:
            for order_id, customer, paid, ref, delivered, lines in snapshots:
                ref = get_keyring().decrypt(ref, "order_snapshots.payment_reference")
                order = client.get_order(order_id)
                assert (order.customer_id, order.amount_paid, order.payment_reference) == (customer, paid, ref)
                assert (order.status == "delivered", len(order.lines)) == (bool(delivered), lines)
                assert order in client.list_customer_orders(customer)
                assert httpx.get(f"{base}/gateway/payments/{ref}").json()["captured"] == paid
