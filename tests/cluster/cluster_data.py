"""Data of the cluster test and benchmark: a customer of their own (C-CLUSTER) whose
orders are loaded into the sandbox's order system, one support case per order, and
one-unit refund requests made through the services against the cluster's database."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import httpx

from support_app.db import session_scope
from support_app.integrations.order_client import OrderClient
from support_app.integrations.order_data import OrderData, OrderLineData
from support_app.kv import MemoryKV
from support_app.services import auth_service, case_commands, refund_commands
from support_app.services.auth_service import UserView

UNIT = 1250  # minor units of one unit of the cluster orders' only line


@dataclass(frozen=True)
class Customer:
    user: UserView
    case_for: dict[str, int]  # order id -> its support case
    sandbox: str  # the sandbox's base URL: a request asks its order system for the delivery facts

    def requested_refunds(self, engine, order_id: str, n: int) -> list[int]:
        """n one-unit refund requests on ``order_id`` (status requested)."""
        ids = []
        with OrderClient(base_url=f"{self.sandbox}/orders", timeout_seconds=5) as client:
            for _ in range(n):
                with session_scope(engine, write=True) as s:
                    ids.append(refund_commands.request_refund(s, self.user, self.case_for[order_id], {"L1": 1}, "damaged",
                                                              request_key=f"cluster-{os.urandom(6).hex()}", client=client))
        return ids


def payment_of(order_id: str) -> str:
    return f"PAY-{order_id}"


def cluster_order(order_id: str, units: int) -> OrderData:
    """Delivered yesterday (inside the refund window): ``units`` one-unit refunds fit."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    line = OrderLineData("L1", "CLUSTER-CUP", "Cluster cup", units, UNIT, 0, 0)
    return OrderData(order_id, "C-CLUSTER", now - timedelta(days=2), now - timedelta(days=1), "delivered", "EUR",
                     (line,), 0, 0, units * UNIT, payment_of(order_id))


def make_customer(sandbox: str, engine, orders: dict[str, int]) -> Customer:
    """The customer, its orders (order id -> units) in the order system, one case each."""
    httpx.post(f"{sandbox}/orders/_admin/orders", timeout=10,
               json=[cluster_order(oid, units).to_json() for oid, units in orders.items()]).raise_for_status()
    with session_scope(engine, write=True) as s:
        user = auth_service.create_user(s, "casey@cluster.example", "Casey Cluster", "customer",
                                        "cluster-pass-2026", "C-CLUSTER")
    cases = {}
    with OrderClient(base_url=f"{sandbox}/orders", timeout_seconds=5, kv=MemoryKV()) as client:
        for order_id in orders:
            with session_scope(engine, write=True) as s:
                cases[order_id] = case_commands.create_case(s, user, order_id, "Cluster", "Refunds for the cluster run.",
                                                            "other", client=client)
    return Customer(user, cases, sandbox)
