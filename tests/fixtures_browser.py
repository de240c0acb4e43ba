"""Debian's Chromium for Playwright (it cannot download its own browser here): the
executable and the flags it needs in this environment. Used by the browser suite and
the cluster test."""

from __future__ import annotations

import shutil

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
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
