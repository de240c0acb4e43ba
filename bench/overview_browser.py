"""Browser time to show the overviews on the large dataset (a benchmark, not a test).

Starts the app (reflex run --env prod) on a free port against data/large.db, signs in
as agent@example.com in Chromium and times, per page, navigation start → first row
visible. Prints p50 and max over --runs loads.

    .venv/bin/python bench/overview_browser.py [--path data/large.db] [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--path", type=Path, default=ROOT / "data" / "large.db")
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    if not args.path.exists():
        print(f"{args.path} is missing: run 'make seed-large' first")
        return 1
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # The overviews never ask the order system or the gateway: no sandbox is started.
    env = {**os.environ, "SUPPORT_DATABASE_URL": f"sqlite:///{args.path.resolve()}"}
    reflex = str(Path(sys.executable).parent / "reflex")
    proc = subprocess.Popen([reflex, "run", "--env", "prod", "--frontend-port", str(port), "--backend-port", str(port),
                             "--loglevel", "warning"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                if httpx.get(base + "/login", timeout=2, follow_redirects=True).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(base_url=base)
            page.set_default_timeout(60000)
            page.goto("/login")
            page.fill("#email", "agent@example.com")
            page.fill("#password", "demo-pass-2026")
            page.click("#sign-in")
            page.wait_for_url("**/workspace**")  # the agents' home since issue 11
            for path in ("/overview/cases", "/overview/refunds", "/overview/cases?status=open,in_progress&sort=updated"):
                times = []
                for _ in range(args.runs):
                    page.goto("/queue")
                    page.wait_for_selector(".case-row, #no-cases")
                    start = time.perf_counter()
                    page.goto(path)
                    page.wait_for_selector(".overview-row")
                    times.append((time.perf_counter() - start) * 1000)
                print(f"{path:55s} p50 {statistics.median(times):7.1f} ms   max {max(times):7.1f} ms   ({args.runs} loads)")
            browser.close()
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
