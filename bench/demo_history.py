"""Benchmark: what `make run` spends seeding the demo, from empty databases.

The sandbox process on a free port (its own temporary database, first started now),
``cli migrate`` and ``cli seed-demo`` as `make run` runs them (accounts, then the
90-day history), then ``seed-demo`` again (nothing to do). Prints the wall and CPU
seconds of each run and what the history holds. Figures only, never pass/fail.

    .venv/bin/python bench/demo_history.py [--runs 1]
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _timed(argv: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds of the child, its output) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout


def one_run(tmp: Path) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "SUPPORT_ENVIRONMENT": "test", "SUPPORT_DATABASE_URL": f"sqlite:///{tmp / 'app.db'}",
           "SUPPORT_REDIS_URL": "", "SUPPORT_JWT_KEYS": "b1:bench-secret-" + "x" * 40,
           "SUPPORT_GATEWAY_WEBHOOK_SECRET": "bench-" + "w" * 32,
           "SUPPORT_ORDER_SYSTEM_URL": f"{base}/orders", "SUPPORT_PAYMENT_GATEWAY_URL": f"{base}/gateway"}
    log = open(tmp / "sandbox.log", "w")
    sandbox = subprocess.Popen([sys.executable, "-m", "support_app.sandbox", "--port", str(port),
                                "--db", str(tmp / "sandbox.db")], cwd=ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        py = [sys.executable, "-m", "support_app.cli"]
        _timed([*py, "migrate"], env)
        wall, cpu, out = _timed([*py, "seed-demo"], env)  # waits for the sandbox itself, like make run
        print(f"seed-demo, empty databases : {wall:6.1f} s wall, {cpu:6.1f} s CPU")
        print("   " + out.strip().splitlines()[-1])
        wall, cpu, out = _timed([*py, "seed-demo"], env)
        print(f"seed-demo again            : {wall:6.1f} s wall, {cpu:6.1f} s CPU")
        print("   " + out.strip().splitlines()[-1])
        db = sqlite3.connect(tmp / "app.db")
        for table in ("support_cases", "refund_cases"):
            counts = db.execute(f"select status, count(*) from {table} group by 1 order by 2 desc").fetchall()
            print(f"   {table}: " + ", ".join(f"{s} {n}" for s, n in counts))
        for label, sql in (("messages (public / internal)", "select visibility, count(*) from case_messages group by 1"),
                           ("attempts", "select status, count(*) from refund_attempts group by 1")):
            print(f"   {label}: " + ", ".join(f"{s} {n}" for s, n in db.execute(sql)))
        db.close()
        health = httpx.get(f"{base}/gateway/health").json()
        print(f"   gateway ledger: {health['refunds_committed']} refunds that moved money")
    finally:
        os.killpg(sandbox.pid, signal.SIGINT)
        try:
            sandbox.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(sandbox.pid, signal.SIGKILL)
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="bench-demo-") as tmp:
            one_run(Path(tmp))


if __name__ == "__main__":
    main()
