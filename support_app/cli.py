"""Command line: `python -m support_app.cli --help`.

  migrate                      upgrade the database to the newest schema (one runner at a time)
  seed-demo [--accounts-only]  demo accounts and 90 days of history from the sandbox (idempotent; not in production)
  create-user EMAIL NAME ROLE  create an agent or customer (password asked, or --password)
  deactivate-user EMAIL        close an account; its open sessions end at their next event
  serve [--host H] [--port P]  serve the prebuilt frontend and the backend on one port, no build
  reencrypt [--batch 1000]     re-encrypt every value not under the current data key (after a rotation)

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


def reencrypt(batch: int) -> dict[str, int]:
    """Every encrypted value not under the current key, table by table, one write
    transaction per batch (resumable: a new run starts with what is left). A progress
    bar per table on stderr; returns the values re-encrypted per table."""
    from support_app.db import session_scope
    from support_app.security.crypto import get_keyring
    from support_app.services.reencryption import count_stale, encrypted_tables, reencrypt_batch

    keyring = get_keyring()
    print(f"re-encrypting under key {keyring.current_kid!r} (keyring: {', '.join(keyring.kids)})", file=sys.stderr)
    counts: dict[str, int] = {}
    for table in encrypted_tables():
        with session_scope() as session:
            total = count_stale(session, table, keyring)
        after: int | None = 0
        done = changed = 0
        _bar(table.name, done, total)
        while after is not None and total:
            with session_scope(write=True) as session:
                after, rows, values = reencrypt_batch(session, table, keyring, after, batch)
            done, changed = done + rows, changed + values
            _bar(table.name, done, max(total, done))
        print(file=sys.stderr, flush=True)
        counts[table.name] = changed
    return counts


def _bar(name: str, done: int, total: int, width: int = 30) -> None:
    filled = width if not total else width * done // total
    print(f"\r  {name:18} [{'#' * filled}{'.' * (width - filled)}] {done:>10,}/{total:,} rows",
          end="", file=sys.stderr, flush=True)


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
    re = sub.add_parser("reencrypt", help="re-encrypt customer data under the current key (after a key rotation)")
    re.add_argument("--batch", type=int, default=1000, help="rows per transaction (default 1000)")
    args = parser.parse_args(argv)
    if args.command == "reencrypt" and not 1 <= args.batch <= 100_000:
        parser.error("--batch must be 1..100000")

    from support_app.settings import load_or_exit

    settings = load_or_exit()
    if args.command == "serve":
        return serve(args.host, args.port)

    from support_app.services.runner import run_sync

    try:
        if args.command == "migrate":
            migrate()
        elif args.command == "reencrypt":
            counts = reencrypt(args.batch)
            for name, changed in counts.items():
                print(f"{name:18} {changed:>10,} values re-encrypted")
            print(f"{sum(counts.values()):,} values re-encrypted in {len(counts)} tables")
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
