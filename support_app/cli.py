"""Command line: `python -m support_app.cli --help`.

  migrate                      upgrade the database to the newest schema (one runner at a time)
  seed-demo [--accounts-only]  demo accounts and 90 days of history from the sandbox (idempotent; not in production)
  create-user EMAIL NAME ROLE  create an agent or customer (password asked, or --password)
  deactivate-user EMAIL        close an account; its open sessions end at their next event
  serve [--host H] [--port P]  serve the prebuilt frontend and the backend on one port, no build

Every command first checks the settings (support_app.settings.load_or_exit).
"""

from __future__ import annotations

import argparse
import getpass
import sys

from support_app.domain.errors import DomainError


def migrate() -> None:
    """Upgrade to head under the migration lock: replicas or jobs started together
    run the upgrade one after the other; the later ones find nothing to do."""
    from alembic import command
    from alembic.config import Config

    from support_app.migration_lock import migration_lock
    from support_app.settings import ROOT, get_settings

    def waiting() -> None:
        print("migrate: another migration holds the lock; waiting for it", file=sys.stderr, flush=True)

    with migration_lock(get_settings().database_url, on_wait=waiting):
        command.upgrade(Config(str(ROOT / "alembic.ini")), "head")


def serve(host: str, port: int) -> int:
    """Run Reflex's production backend with the frontend that `reflex export
    --frontend-only --no-zip` built into .web/build/client mounted on the same port.
    `reflex run --env prod` would compile and rebuild the frontend at every start."""
    from reflex.utils import exec as reflex_exec
    from reflex.utils.prerequisites import get_web_dir
    from reflex_base import constants
    from reflex_base.config import get_config
    from reflex_base.environment import environment

    if not (get_web_dir() / constants.Dirs.STATIC / "index.html").exists():
        print("error: no built frontend in .web/build/client; run `reflex export --frontend-only --no-zip` first",
              file=sys.stderr)
        return 2
    environment.REFLEX_ENV_MODE.set(constants.Env.PROD)
    environment.REFLEX_SKIP_COMPILE.set(True)  # the workers import the app without compiling it
    reflex_exec.run_backend_prod(host, port, get_config().loglevel.subprocess_level(), mount_frontend_compiled_app=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m support_app.cli")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="upgrade the database schema")
    sd = sub.add_parser("seed-demo", help="create demo accounts and their history (idempotent)")
    sd.add_argument("--accounts-only", action="store_true", help="only the five demo accounts: no history, no sandbox needed")
    cu = sub.add_parser("create-user", help="create an agent or a customer")
    cu.add_argument("email")
    cu.add_argument("full_name")
    cu.add_argument("role", choices=["agent", "customer"])
    cu.add_argument("--order-customer-id", help="the customer's id in the order system (customers only)")
    cu.add_argument("--password", help="omit to be asked without echo")
    du = sub.add_parser("deactivate-user", help="close an account: no more sign-ins, open sessions end at once")
    du.add_argument("email")
    sv = sub.add_parser("serve", help="serve the prebuilt frontend and the backend (the production image's command)")
    sv.add_argument("--host", default="0.0.0.0")
    sv.add_argument("--port", type=int, default=3000)
    args = parser.parse_args(argv)

    from support_app.settings import load_or_exit

    settings = load_or_exit()
    if args.command == "serve":
        return serve(args.host, args.port)

    from support_app.services.runner import run_sync

    try:
        if args.command == "migrate":
            migrate()
        elif args.command == "seed-demo":
            if settings.environment == "production":
                print("error: seed-demo is refused in production: it creates accounts whose password is published "
                      "in the README. Use create-user.", file=sys.stderr)
                return 2
            from support_app.devdata.demo import DEMO_PASSWORD, seed_demo

            for email, role, created in run_sync(seed_demo):
                print(f"{'created' if created else 'exists '}  {role:8} {email}  password: {DEMO_PASSWORD}")
            if not args.accounts_only:
                from support_app.devdata.history import HistoryError, seed_history

                try:
                    print(seed_history().summary(), flush=True)
                except HistoryError as err:
                    print(f"error: demo history: {err}", file=sys.stderr)
                    return 2
        elif args.command == "deactivate-user":
            from support_app.services.auth_service import deactivate_user

            user = run_sync(deactivate_user, args.email)
            print(f"deactivated {user.role} {user.email} (id {user.id}); their sessions are ended")
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
