"""Command line: `python -m support_app.cli --help`.

  migrate                      upgrade the database to the newest schema
  seed-demo                    create the demo customers and agents (idempotent)
  create-user EMAIL NAME ROLE  create an agent or customer (password asked, or --password)
"""

from __future__ import annotations

import argparse
import getpass
import sys

from support_app.domain.errors import DomainError


def migrate() -> None:
    from alembic import command
    from alembic.config import Config

    from support_app.settings import ROOT

    command.upgrade(Config(str(ROOT / "alembic.ini")), "head")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m support_app.cli")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="upgrade the database schema")
    sub.add_parser("seed-demo", help="create demo accounts (idempotent)")
    cu = sub.add_parser("create-user", help="create an agent or a customer")
    cu.add_argument("email")
    cu.add_argument("full_name")
    cu.add_argument("role", choices=["agent", "customer"])
    cu.add_argument("--order-customer-id", help="the customer's id in the order system (customers only)")
    cu.add_argument("--password", help="omit to be asked without echo")
    args = parser.parse_args(argv)

    from support_app.services.runner import run_sync

    try:
        if args.command == "migrate":
            migrate()
        elif args.command == "seed-demo":
            from support_app.devdata.demo import DEMO_PASSWORD, seed_demo

            for email, role, created in run_sync(seed_demo):
                print(f"{'created' if created else 'exists '}  {role:8} {email}  password: {DEMO_PASSWORD}")
        else:
            from support_app.services.auth_service import create_user

            password = args.password or getpass.getpass("Password: ")
            user = run_sync(create_user, args.email, args.full_name, args.role, password, args.order_customer_id)
            print(f"created {user.role} {user.email} (id {user.id})")
    except DomainError as err:
        detail = "; ".join(f"{k}: {v}" for k, v in err.fields.items())
        print(f"error {err.code}: {err.message} {detail}".strip(), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
