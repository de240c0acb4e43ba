"""A large, realistic dataset in a separate SQLite file, for measuring list pages.

    python -m support_app.devdata.large                 # 100k customers, 1M cases, 300k refunds
    python -m support_app.devdata.large --small         # 20k cases: a quick check
    python -m support_app.devdata.large --path data/x.db --cases 200000 --refunds 60000 --seed 7
    python -m support_app.devdata.large --sandbox-url http://127.0.0.1:3001   # also load the orders into the sandbox

Rows are made by generate.py and written by load.py; with ``--sandbox-url`` every
generated order is then loaded into the order-system sandbox (sandbox_orders.py), so
the order system knows it and the gateway can refund it.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from support_app.devdata.load import DEFAULT_PATH, load_large
from support_app.devdata.sandbox_orders import load_into_sandbox


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m support_app.devdata.large", description=__doc__.split("\n\n")[0])
    p.add_argument("--path", type=Path, default=DEFAULT_PATH, help="SQLite file to (re)create (default data/large.db)")
    p.add_argument("--customers", type=int, default=100_000)
    p.add_argument("--cases", type=int, default=1_000_000)
    p.add_argument("--refunds", type=int, default=300_000)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--small", action="store_true", help="20k cases, 6k refunds, 5k customers: a quick check")
    p.add_argument("--keep-indexes", action="store_true", help="load with every index in place (slower)")
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1),
                   help="processes generating rows while this one inserts (0: all in this process)")
    p.add_argument("--sandbox-url", help="also load the generated orders into the sandbox at this base URL "
                                         "(e.g. http://127.0.0.1:3001; it must run with faults/admin enabled)")
    p.add_argument("--sandbox-batch", type=int, default=2_000, help="orders per admin request (default 2000)")
    args = p.parse_args(argv)
    if args.small:
        args.customers, args.cases, args.refunds = 5_000, 20_000, 6_000
    if not 1 <= args.sandbox_batch <= 10_000:
        p.error("--sandbox-batch must be 1..10000")
    load_large(args.path, args.customers, args.cases, args.refunds, args.seed, args.keep_indexes, args.workers)
    if args.sandbox_url:
        sent = load_into_sandbox(args.path.resolve(), args.sandbox_url, args.sandbox_batch)
        print(f"{sent:,} orders loaded into the sandbox at {args.sandbox_url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
