"""Browser time to show the overviews on the large dataset (a benchmark, not a test).

Starts the app (reflex run --env prod) on a free port against data/large.db, signs in
as agent@example.com in Chromium and times, per overview, a full page load (navigation
start → first row visible, over --runs loads), then paging on with Next → (click → the
next page's first row visible, over --pages clicks); then the same paging over the
websocket without a browser (the load benchmark's wire client), which is what the
server takes apart from the browser's rendering. Prints p50 and max.

    .venv/bin/python bench/overview_browser.py [--path data/large.db] [--runs 7] [--pages 20]
"""

from __future__ import annotations

import argparse
import asyncio
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
PATHS = ("/overview/cases", "/overview/refunds", "/overview/cases?status=open,in_progress&sort=updated")
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "bench")]
from fixtures_browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402 — the browser the test suite runs (make browsers)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def next_pages(page, count: int) -> list[float]:
    """Click Next → ``count`` times: each page comes over the websocket (a client-side
    navigation, the page's load event); timed from the click until its first row shows."""
    times = []
    for _ in range(count):
        first = page.inner_text(".overview-row >> nth=0")
        start = time.perf_counter()
        page.click("#next-page")
        page.wait_for_function(
            "prev => { const row = document.querySelector('.overview-row'); return row && row.innerText !== prev; }",
            arg=first)
        times.append((time.perf_counter() - start) * 1000)
    return times


def shown(tab, name: str) -> object:
    """The value of the var ``name`` in whichever of the tab's states holds it."""
    from load_wire import SUFFIX

    return next((vars_[name + SUFFIX] for vars_ in tab.store.values() if name + SUFFIX in vars_), None)


def first_row(tab) -> object:
    return (shown(tab, "cases") or shown(tab, "refunds") or [None])[0]


async def wire_pages(port: int, count: int) -> dict[str, list[float]]:
    """The same paging without a browser: Reflex's wire protocol (bench/load_wire), each
    Next → a client-side navigation timed from its events sent to the page's update."""
    from load import ROUTES
    from load_wire import Tab, load_protocol

    tab = await Tab.signed_in(load_protocol(ROOT / ".web", list(ROUTES.values())), "127.0.0.1", port,
                              "agent@example.com", "demo-pass-2026", timeout=60.0)
    found = {}
    try:
        for path in PATHS:
            await tab.navigate(path)
            times, before = [], first_row(tab)
            for _ in range(count):
                if not (after := shown(tab, "next_href")):
                    raise SystemExit(f"{path}: no next page after {len(times)}")
                start = time.perf_counter()
                await tab.navigate(after)
                times.append((time.perf_counter() - start) * 1000)
                if (first := first_row(tab)) == before:
                    raise SystemExit(f"{after}: the page did not change (first row {first})")
                before = first
            found[path] = times
    finally:
        await tab.close()
    return found


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--path", type=Path, default=ROOT / "data" / "large.db")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--pages", type=int, default=20, help="Next → clicks timed per overview")
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
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(base_url=base)
            page.set_default_timeout(60000)
            page.goto("/login")
            page.fill("#email", "agent@example.com")
            page.fill("#password", "demo-pass-2026")
            page.click("#sign-in")
            page.wait_for_url("**/workspace**")  # the agents' home since issue 11
            for path in PATHS:
                times = []
                for _ in range(args.runs):
                    page.goto("/queue")
                    page.wait_for_selector(".case-row, #no-cases")
                    start = time.perf_counter()
                    page.goto(path)
                    page.wait_for_selector(".overview-row")
                    times.append((time.perf_counter() - start) * 1000)
                print(f"{path:55s} p50 {statistics.median(times):7.1f} ms   max {max(times):7.1f} ms   ({args.runs} loads)")
                pages = next_pages(page, args.pages)
                print(f"{'  then Next →, page after page':55s} p50 {statistics.median(pages):7.1f} ms   "
                      f"max {max(pages):7.1f} ms   ({args.pages} pages)")
            browser.close()
        print("over the websocket, no browser (the wire protocol), Next → page after page:")
        for path, times in asyncio.run(wire_pages(port, args.pages)).items():
            print(f"{path:55s} p50 {statistics.median(times):7.1f} ms   max {max(times):7.1f} ms   ({args.pages} pages)")
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
