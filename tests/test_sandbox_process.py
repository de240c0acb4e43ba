"""The sandbox as its own process (``python -m support_app.sandbox``), and the boundary
that keeps it external: the app never imports it."""

from __future__ import annotations

import ast
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from support_app.sandbox.__main__ import main

ROOT = Path(__file__).resolve().parents[1]
HUNG = 30.0  # seconds: a guard against hanging, not a performance claim


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "SUPPORT_ENVIRONMENT": "test", "SUPPORT_GATEWAY_WEBHOOK_SECRET": "whsec_" + "p" * 32}
    proc = subprocess.Popen(
        [sys.executable, "-m", "support_app.sandbox", "--port", str(port), "--db", str(tmp_path / "sandbox.db"),
         "--webhook-url", "http://127.0.0.1:9/nowhere", *extra],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + HUNG
    while True:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"sandbox did not start: {proc.communicate()[0]}")
        time.sleep(0.1)


def stop(proc: subprocess.Popen) -> str:
    """Ctrl-C: the server shuts down cleanly (exit 0) and says what it served."""
    os.killpg(proc.pid, signal.SIGINT)
    try:
        output = proc.communicate(timeout=HUNG)[0]
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    assert proc.returncode == 0, output
    return output


def test_the_process_serves_both_sandboxes_and_keeps_its_ledger(tmp_path) -> None:
    proc, base = start(tmp_path)
    try:
        for path in ("/health", "/orders/health", "/gateway/health"):
            assert httpx.get(base + path).json()["status"] == "ok"
        assert httpx.get(f"{base}/orders/orders/ORD-1003-1").json()["payment_reference"] == "PAY-1003-1"
        body = {"payment_reference": "PAY-1003-1", "amount": 850, "currency": "EUR"}
        first = httpx.post(f"{base}/gateway/refunds", json=body, headers={"Idempotency-Key": "process-key-1"})
        assert first.status_code == 201
    finally:
        output = stop(proc)
    assert f"order system {base}/orders, payment gateway {base}/gateway" in output
    proc, base = start(tmp_path, "--no-faults")  # the same file, another run
    try:
        again = httpx.post(f"{base}/gateway/refunds", json=body, headers={"Idempotency-Key": "process-key-1"})
        assert again.json()["id"] == first.json()["id"]
        assert httpx.get(f"{base}/gateway/payments/PAY-1003-1").json()["refund_count"] == 1
        assert httpx.get(f"{base}/gateway/_faults").status_code == 404
        assert httpx.get(f"{base}/orders/_faults").status_code == 404
    finally:
        assert "faults off" in stop(proc)


@pytest.mark.parametrize("value", ["production", " Production "])
def test_refuses_to_start_in_production(monkeypatch, capsys, value: str) -> None:
    monkeypatch.setenv("SUPPORT_ENVIRONMENT", value)
    assert main(["--port", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "refusing to start with SUPPORT_ENVIRONMENT=production" in err


def test_the_app_never_imports_the_sandbox_or_the_dev_data() -> None:
    """The sandbox is an external service and devdata a developer tool; only the command
    line (which seeds demo accounts) may reach devdata."""
    offenders = []
    for path in sorted((ROOT / "support_app").rglob("*.py")):
        rel = path.relative_to(ROOT / "support_app").as_posix()
        if rel.startswith(("sandbox/", "devdata/")):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                if name.startswith("support_app.sandbox") or (
                        name.startswith("support_app.devdata") and rel != "cli.py"):
                    offenders.append(f"{rel}: {name}")
    assert offenders == []
