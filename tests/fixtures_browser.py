"""Debian's Chromium for Playwright (it cannot download its own browser here): the
executable (its old headless shell, what Playwright itself runs headless: a cold page
costs it less than half the CPU of the full browser in headless mode) and the flags it
needs in this environment; and where, one at a time, each app's frontend is built. Used
by the browser suite and the cluster test."""

from __future__ import annotations

import fcntl
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = shutil.which("chromium-headless-shell") or shutil.which("chromium") or "/usr/bin/chromium-headless-shell"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def launch_args(defaults: dict, *extra: str) -> dict:
    return {**defaults, "executable_path": CHROMIUM, "args": [*CHROMIUM_ARGS, *extra]}


# -- frontend builds ---------------------------------------------------------------------
# Each app the suites start compiles its own frontend (the server's address is compiled in),
# into its own directory (Reflex's REFLEX_WEB_WORKDIR), so that the suites can run side by
# side. The builds themselves take turns: each one installs into its directory from the
# shared bun cache and reads the committed reflex.lock/, which Reflex may write back.

ROOT = Path(__file__).resolve().parents[1]


def web_dir(name: str) -> Path:
    """Where the app for ``name`` is compiled: .web for the in-memory browser pass (and
    `make run`), .web-<name> otherwise."""
    return ROOT / (".web" if name == "memory" else f".web-{name}")


@contextmanager
def frontend_build_turn() -> Iterator[None]:
    """Held from the start of a frontend build until the app is serving it."""
    lock = ROOT / ".cache" / "frontend-build.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
