"""Demo-size data for the load benchmark (bench/load.py runs this as a subprocess).

Run with the app's environment (SUPPORT_DATABASE_URL, SUPPORT_ORDER_SYSTEM_URL, ...):
the services read their settings at import, so this runs in its own process per
configuration. It creates

* customers and agents directly in the users table with ONE precomputed argon2 hash
  of the shared password (hashing per user would cost seconds);
* each customer's orders in the order-system sandbox (POST /orders/_admin/orders), so
  every order is known to the order system and its payment to the gateway;
* through the app's own services: cases on the delivered orders, an agent reply on
  each customer's first case, and one-unit refund requests (status requested) that the
  agents of the benchmark approve.

Prints one JSON object (accounts and the requested refund ids) to --out.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402

from support_app.db import make_engine, session_scope  # noqa: E402
from support_app.integrations.order_client import OrderClient  # noqa: E402
from support_app.integrations.order_data import OrderData, OrderLineData  # noqa: E402
from support_app.kv import MemoryKV  # noqa: E402
from support_app.models import User  # noqa: E402
from support_app.security.passwords import hash_password  # noqa: E402
from support_app.services import case_commands, refund_commands  # noqa: E402
from support_app.services.auth_service import UserView  # noqa: E402

ORDERS_PER_CUSTOMER = 3  # two delivered (refundable), one shipped
LINES = (("L1", "BENCH-MUG", "Bench mug", 40, 1500), ("L2", "BENCH-LAMP", "Bench lamp", 25, 3900))


def customer_email(i: int) -> str:
    return f"cust{i:04d}@bench.example"


def agent_email(i: int) -> str:
    return f"agent{i:02d}@bench.example"


def orders_for(i: int, now: datetime) -> list[OrderData]:
    """Customer i's orders: delivered 1 and 3 days ago (inside the 14-day window), one shipped."""
    cid = f"BL-{i:04d}"
    out = []
    for k in range(1, ORDERS_PER_CUSTOMER + 1):
        lines = tuple(OrderLineData(lid, sku, name, qty, unit, 0, 0) for lid, sku, name, qty, unit in LINES)
        delivered = now - timedelta(days=2 * k - 1) if k < ORDERS_PER_CUSTOMER else None
        shipping = 495
        paid = sum(line.paid_total for line in lines) + shipping
        out.append(OrderData(f"{cid}-{k}", cid, now - timedelta(days=2 * k + 3), delivered,
                             "delivered" if delivered else "shipped", "EUR", lines, shipping, 0, paid,
                             f"PAY-{cid}-{k}"))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sandbox", required=True, help="sandbox base URL, e.g. http://127.0.0.1:4401")
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--agents", type=int, default=10)
    parser.add_argument("--cases-per-customer", type=int, default=2)
    parser.add_argument("--refunds-per-case", type=int, default=2)
    parser.add_argument("--password", required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    started = time.monotonic()
    now = datetime.now(timezone.utc).replace(microsecond=0)
    engine = make_engine(os.environ["SUPPORT_DATABASE_URL"])
    pw_hash = hash_password(args.password)

    with session_scope(engine, write=True) as s:
        customers = [User(email=customer_email(i), full_name=f"Bench Customer {i:04d}", role="customer",
                          password_hash=pw_hash, order_customer_id=f"BL-{i:04d}") for i in range(1, args.customers + 1)]
        agents = [User(email=agent_email(i), full_name=f"Bench Agent {i:02d}", role="agent", password_hash=pw_hash)
                  for i in range(1, args.agents + 1)]
        s.add_all(customers + agents)
        s.flush()
        customer_views = [UserView(u.id, u.email, u.full_name, u.role) for u in customers]
        agent_views = [UserView(u.id, u.email, u.full_name, u.role) for u in agents]

    with httpx.Client(timeout=60) as http:
        batch = [o.to_json() for i in range(1, args.customers + 1) for o in orders_for(i, now)]
        for at in range(0, len(batch), 2000):
            http.post(f"{args.sandbox}/orders/_admin/orders", json=batch[at:at + 2000]).raise_for_status()

    requested: list[int] = []
    orders = OrderClient(base_url=f"{args.sandbox}/orders", timeout_seconds=10, kv=MemoryKV())
    try:
        for n, (i, caller) in enumerate(zip(range(1, args.customers + 1), customer_views)):
            for k in range(1, min(args.cases_per_customer, ORDERS_PER_CUSTOMER - 1) + 1):
                with session_scope(engine, write=True) as s:
                    case_id = case_commands.create_case(
                        s, caller, f"BL-{i:04d}-{k}", f"Bench case {k} of customer {i}",
                        "Seeded by the load benchmark: the mug arrived chipped.", "damaged_item", client=orders)
                if k == 1:
                    with session_scope(engine, write=True) as s:
                        case_commands.add_message(s, agent_views[n % len(agent_views)], case_id,
                                                  "Thanks, we are looking into it.")
                for r in range(args.refunds_per_case):
                    with session_scope(engine, write=True) as s:
                        requested.append(refund_commands.request_refund(
                            s, caller, case_id, {"L1": 1}, "damaged", request_key=f"bench-seed-{case_id}-{r}"))
    finally:
        orders.close()
    engine.dispose()
    args.out.write_text(json.dumps({
        "password": args.password,
        "customers": [c.email for c in customer_views],
        "agents": [a.email for a in agent_views],
        "requested_refunds": requested,
        "seconds": round(time.monotonic() - started, 1),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
