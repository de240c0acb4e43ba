"""``python -m support_app.worker``: one Worker in the foreground until SIGINT/SIGTERM.

Settings as for the app (SUPPORT_DATABASE_URL, SUPPORT_PAYMENT_GATEWAY_URL,
SUPPORT_REDIS_URL for wake-ups across processes, SUPPORT_WORKER_*). Run as many as
you like, on any machines: the claims keep each attempt with one worker at a time.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading

from support_app.logs import configure as configure_logs
from support_app.settings import EXIT_CONFIG, load_or_exit
from support_app.worker.runner import Worker


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    configure_logs()  # the app's own lines as JSON
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per gateway request
    load_or_exit()  # the start-up check every entry point makes
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        logging.getLogger(__name__).info("received %s: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    worker = Worker.from_settings()
    try:
        worker.start()
    except ValueError as exc:  # a configuration the worker refuses (e.g. a lease too short)
        print(f"worker not started: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    while not stop.wait(1.0):
        pass
    return 0 if worker.stop() else 1


if __name__ == "__main__":
    sys.exit(main())
