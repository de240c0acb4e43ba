"""My refunds (service): a customer's own refunds with their items, newest first."""

from __future__ import annotations

from fixtures_db import code_of, order_client, orders_server, orders_server_session, people, run  # noqa: F401
from support_app.domain.errors import ErrorCode
from support_app.services import case_commands as cmd
from support_app.services import refund_commands as rc
from support_app.services.my_refunds import my_refunds

CASE = dict(subject="Cracked mug", description="The blue mug arrived cracked in two.", category="damaged_item")


def test_a_customer_reads_her_own_refunds_with_items(engine, people, order_client):
    alice_case = run(engine, cmd.create_case, people.alice, "ORD-1001-1", client=order_client, **CASE)
    bob_case = run(engine, cmd.create_case, people.bob, "ORD-1002-2", client=order_client, **CASE)
    first = run(engine, rc.request_refund, people.alice, alice_case, {"L1": 2}, "damaged", "", "mine-key-1")
    second = run(engine, rc.request_refund, people.alice, alice_case, {"L2": 1}, "damaged", "", "mine-key-2")
    theirs = run(engine, rc.request_refund, people.bob, bob_case, {"L1": 1}, "damaged", "", "mine-key-3")

    page = run(engine, my_refunds, people.alice, write=False)
    assert [r.id for r in page.rows] == [second, first]  # newest first
    assert page.count_text == "2" and not page.next_cursor and not page.prev_cursor
    row = page.rows[1]
    assert (row.status, row.status_label, row.amount) == ("requested", "Requested", "€27.77")
    assert row.items_text.startswith("2 × ") and row.case_number.startswith("SC-") and row.order_id == "ORD-1001-1"
    assert row.requested_at.endswith("Z") and row.updated_at.endswith("Z")

    bob = run(engine, my_refunds, people.bob, write=False)
    assert [(r.id, r.amount, r.items_text) for r in bob.rows] == [(theirs, "$37.89", "1 × French press")]
    assert run(engine, my_refunds, people.alice, "not-a-cursor", write=False).rows == page.rows  # page 1


def test_my_refunds_is_for_customers(engine, people):
    assert code_of(engine, my_refunds, people.sam, write=False) is ErrorCode.FORBIDDEN
