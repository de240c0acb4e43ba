"""Serve the sandboxes: ``python -m support_app.sandbox [--host H] [--port P] [--db FILE]
[--webhook-url URL] [--no-faults]``. One process; never in production."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from support_app.settings import DATA_DIR

PRODUCTION_REFUSAL = ("support_app.sandbox: refusing to start with SUPPORT_ENVIRONMENT=production "
                      "(the sandbox is for development and tests; point the app at the real services)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m support_app.sandbox",
                                     description="The order-system and payment-gateway sandboxes in one server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3001)
    parser.add_argument("--db", type=Path, default=DATA_DIR / "sandbox.db",
                        help="SQLite file for orders and the gateway ledger (default data/sandbox.db)")
    parser.add_argument("--webhook-url", default="http://127.0.0.1:3000/api/gateway/webhook",
                        help="where the gateway delivers signed webhooks (the app's endpoint)")
    parser.add_argument("--no-faults", action="store_true",
                        help="serve without the fault switches, reset, webhook and admin endpoints")
    args = parser.parse_args(argv)
    if os.environ.get("SUPPORT_ENVIRONMENT", "").strip().lower() == "production":
        print(PRODUCTION_REFUSAL, file=sys.stderr)
        return 2

    from pydantic import ValidationError

    from support_app.settings import get_settings

    try:
        settings = get_settings()  # also reads .env; generates the development webhook secret once
    except ValidationError as exc:
        print(f"support_app.sandbox: invalid settings: {exc.errors()[0]['msg']}", file=sys.stderr)
        return 2
    if settings.environment.strip().lower() == "production":
        print(PRODUCTION_REFUSAL, file=sys.stderr)
        return 2

    import uvicorn

    from support_app.sandbox.app import create_sandbox_app

    app = create_sandbox_app(args.db, args.webhook_url, settings.gateway_webhook_secret,
                             enable_faults=not args.no_faults)
    base = f"http://{args.host}:{args.port}"
    print(f"sandbox: order system {base}/orders, payment gateway {base}/gateway, database {args.db}, "
          f"webhooks to {args.webhook_url}, faults {'off' if args.no_faults else 'on'}", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", access_log=False,
                timeout_graceful_shutdown=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
