"""What one load-benchmark configuration runs on, started and stopped by the benchmark.

In a temporary directory: a fresh database (SQLite file, or a fresh PostgreSQL
database ``bench_<random>``), migrations (``python -m support_app.cli migrate``), the
sandbox process (order system + gateway), demo-size data (bench/load_seed.py), and the
app (``reflex run --env prod``) with its own services. Also: sampling CPU and RSS of a
process tree from /proc (no psutil), and reading the app log written during a level.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
REFLEX = str(Path(PY).parent / "reflex")
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
START_TIMEOUT_S = 600  # `reflex run --env prod` compiles and builds the frontend at every start


@dataclass(frozen=True)
class StackConfig:
    name: str
    state: str  # Reflex state manager: memory | disk | redis
    database: str  # sqlite | postgres


CONFIGS = {c.name: c for c in (
    StackConfig("memory-sqlite", "memory", "sqlite"),
    StackConfig("disk-sqlite", "disk", "sqlite"),  # Reflex's own default without Redis
    StackConfig("redis-sqlite", "redis", "sqlite"),
    StackConfig("redis-postgres", "redis", "postgres"),
)}


def reflex_env() -> dict[str, str]:
    """What the Makefile exports for Reflex (bun from .tools, caches inside the repo)."""
    cache = ROOT / ".cache"
    return {
        "PATH": f"{ROOT / '.tools/node_modules/.bin'}:{ROOT / '.venv/bin'}:{os.environ.get('PATH', '')}",
        "REFLEX_USE_SYSTEM_BUN": "1",
        "REFLEX_CHECK_LATEST_VERSION": "0",
        "REFLEX_TELEMETRY_ENABLED": "false",
        "NPM_CONFIG_REGISTRY": os.environ.get("NPM_CONFIG_REGISTRY", "https://registry.npmjs.org/"),
        "REFLEX_DIR": str(cache / "reflex"),
        "BUN_INSTALL_CACHE_DIR": str(cache / "bun"),
        "XDG_CACHE_HOME": str(cache / "xdg"),
        "XDG_CONFIG_HOME": str(cache / "config"),
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True


def _psql(sql: str) -> None:
    subprocess.run(["psql", PG_ADMIN, "-v", "ON_ERROR_STOP=1", "-qAtc", sql], check=True, capture_output=True)


def _flush_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


def app_env_arg(text: str) -> tuple[str, str]:
    """argparse type of --app-env (bench/load.py, bench/event_cost.py): NAME=VALUE."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError("takes NAME=VALUE")
    return name, value


def _wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[:4]} exited ({proc.returncode}):\n{log.read_text(errors='replace')[-4000:]}")
        try:
            if httpx.get(url, timeout=3, follow_redirects=True).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"no answer from {url} after {timeout:.0f} s:\n{log.read_text(errors='replace')[-4000:]}")


def _wait_log(log: Path, text: str, proc: subprocess.Popen, timeout: float) -> None:
    """Wait until the process has written ``text`` to its log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[:4]} exited ({proc.returncode}):\n{log.read_text(errors='replace')[-4000:]}")
        if text in log.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise RuntimeError(f"{proc.args[:4]} did not log {text!r} within {timeout:.0f} s:\n{log.read_text(errors='replace')[-4000:]}")


def _stop(proc: subprocess.Popen | None) -> None:
    """SIGINT to the process group (Ctrl-C: clean shutdown), SIGKILL if it lingers."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass


@dataclass
class Stack:
    """One configuration's services. ``start()`` then ``stop()`` (always, also after errors)."""

    config: StackConfig
    app_port: int
    sandbox_port: int
    workers: int
    app_redis_url: str
    state_redis_url: str
    customers: int = 200
    agents: int = 10
    password: str = "bench-pass-2026"
    keep_tmp: bool = False
    app_env: dict[str, str] = field(default_factory=dict)  # --app-env: settings under test, applied last
    worker_process: bool = False  # the refund sender in its own process (as deploy/compose.yaml), not in the app
    serve: str = "run"  # "run": reflex run --env prod (as make run); "cli": the production image's command
    tmp: Path | None = field(init=False, default=None)  # set by start(): None, nothing was started
    env: dict[str, str] = field(init=False)
    seed: dict = field(init=False, default_factory=dict)
    pg_db: str | None = field(init=False, default=None)
    sandbox: subprocess.Popen | None = field(init=False, default=None)
    app: subprocess.Popen | None = field(init=False, default=None)
    worker: subprocess.Popen | None = field(init=False, default=None)
    app_log: Path = field(init=False)
    build_seconds: float = field(init=False, default=0.0)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.app_port}"

    @property
    def sandbox_url(self) -> str:
        return f"http://127.0.0.1:{self.sandbox_port}"

    def start(self, say=print) -> None:
        for port in (self.app_port, self.sandbox_port):
            if _listening(port):  # figures would come from whatever answers there, not from this stack
                raise SystemExit(f"port {port} is already taken (an earlier benchmark's app or sandbox still running?): "
                                 "stop it, or choose other ports with --port")
        self.tmp = Path(tempfile.mkdtemp(prefix=f"bench-load-{self.config.name}-"))
        self.app_log = self.tmp / "app.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPPORT_", "REFLEX_", "GRANIAN_"))}
        env.update(reflex_env())
        env.update(
            SUPPORT_ENVIRONMENT="test",
            SUPPORT_JWT_KEYS="b1:bench-jwt-" + secrets.token_hex(24),
            SUPPORT_GATEWAY_WEBHOOK_SECRET="bench-whsec-" + secrets.token_hex(24),
            SUPPORT_ORDER_SYSTEM_URL=f"{self.sandbox_url}/orders",
            SUPPORT_PAYMENT_GATEWAY_URL=f"{self.sandbox_url}/gateway",
            # Every session signs in from 127.0.0.1, and several sessions share an agent
            # account (their concurrent attempts count before a success resets them).
            SUPPORT_LOGIN_CLIENT_MAX_FAILURES="10000000",
            SUPPORT_LOGIN_MAX_FAILURES="10000000",
            SUPPORT_CASE_CREATE_MAX="10000000",
            GRANIAN_WORKERS=str(self.workers),
            COLUMNS="4000",  # Reflex logs through rich: no wrapping at 80 columns, one record per line
        )
        if self.config.database == "postgres":
            self.pg_db = f"bench_{secrets.token_hex(4)}"
            _psql(f"CREATE DATABASE {self.pg_db}")
            env["SUPPORT_DATABASE_URL"] = f"postgresql+psycopg://postgres@127.0.0.1:5432/{self.pg_db}"
        else:
            env["SUPPORT_DATABASE_URL"] = f"sqlite:///{self.tmp / 'app.db'}"
        if self.config.state == "redis":
            _flush_redis(self.app_redis_url)
            _flush_redis(self.state_redis_url)
            env.update(SUPPORT_REDIS_URL=self.app_redis_url, REFLEX_REDIS_URL=self.state_redis_url,
                       SUPPORT_REDIS_PREFIX=f"bench-{secrets.token_hex(4)}:")
        else:
            env["REFLEX_STATE_MANAGER_MODE"] = self.config.state
        if self.worker_process:
            env["SUPPORT_EMBEDDED_WORKER"] = "false"
        env.update(self.app_env)
        self.env = env

        say(f"  [{self.config.name}] migrate, sandbox on :{self.sandbox_port}, seed ...")
        subprocess.run([PY, "-m", "support_app.cli", "migrate"], cwd=ROOT, env=env, check=True, capture_output=True)
        with open(self.tmp / "sandbox.log", "w") as fh:
            self.sandbox = subprocess.Popen(
                [PY, "-m", "support_app.sandbox", "--port", str(self.sandbox_port), "--db", str(self.tmp / "sandbox.db"),
                 "--webhook-url", f"{self.base_url}/api/gateway/webhook"],
                cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
        _wait_http(f"{self.sandbox_url}/health", self.sandbox, self.tmp / "sandbox.log", 60)
        seed_out = self.tmp / "seed.json"
        subprocess.run([PY, str(ROOT / "bench" / "load_seed.py"), "--sandbox", self.sandbox_url,
                        "--customers", str(self.customers), "--agents", str(self.agents),
                        "--password", self.password, "--out", str(seed_out)],
                       cwd=ROOT, env=env, check=True)
        self.seed = json.loads(seed_out.read_text())
        say(f"  [{self.config.name}] seeded {len(self.seed['customers'])} customers, {len(self.seed['agents'])} agents, "
            f"{len(self.seed['requested_refunds'])} requested refunds in {self.seed['seconds']} s; "
            f"starting the app on :{self.app_port} ({self.workers} worker(s)) ...")
        started = time.monotonic()
        if self.serve == "cli":  # as the Dockerfile: build the pages, then serve them and the backend without compiling
            command = [PY, "-m", "support_app.cli", "serve", "--host", "127.0.0.1", "--port", str(self.app_port)]
            with open(self.tmp / "export.log", "w") as fh:
                subprocess.run([REFLEX, "export", "--frontend-only", "--no-zip", "--loglevel", "warning"], cwd=ROOT,
                               env=env, stdout=fh, stderr=subprocess.STDOUT, check=True)
        else:
            command = [REFLEX, "run", "--env", "prod", "--frontend-port", str(self.app_port), "--backend-port",
                       str(self.app_port), "--loglevel", "warning"]
        with open(self.app_log, "w") as fh:
            self.app = subprocess.Popen(command, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        _wait_http(f"{self.base_url}/ping", self.app, self.app_log, START_TIMEOUT_S)
        _wait_http(f"{self.base_url}/login", self.app, self.app_log, 60)
        self.build_seconds = time.monotonic() - started
        say(f"  [{self.config.name}] app answers after {self.build_seconds:.0f} s (compile + build + start)")
        if self.worker_process:
            with open(self.tmp / "worker.log", "w") as fh:
                self.worker = subprocess.Popen([PY, "-m", "support_app.worker"], cwd=ROOT, env=env, stdout=fh,
                                               stderr=subprocess.STDOUT, start_new_session=True)
            _wait_log(self.tmp / "worker.log", "started: pool", self.worker, 60)
            say(f"  [{self.config.name}] refund sender in its own process (python -m support_app.worker)")

    def stop(self) -> None:
        if self.tmp is None:
            return
        _stop(self.worker)
        _stop(self.app)
        _stop(self.sandbox)
        if self.pg_db:
            try:
                _psql(f"DROP DATABASE IF EXISTS {self.pg_db} WITH (FORCE)")
            except subprocess.CalledProcessError as exc:
                print(f"  could not drop {self.pg_db}: {exc.stderr!r}", file=sys.stderr)
        if self.config.state == "redis":
            _flush_redis(self.app_redis_url)
            _flush_redis(self.state_redis_url)
        if not self.keep_tmp:
            subprocess.run(["rm", "-rf", str(self.tmp)], check=False)

    def gateway_counts(self) -> dict[str, int]:
        """The gateway sandbox's own counters: refund creations, webhook deliveries to the app."""
        try:
            with httpx.Client(timeout=10) as http:
                creates = http.get(f"{self.sandbox_url}/gateway/_faults").json().get("create_requests", 0)
                deliveries = http.get(f"{self.sandbox_url}/gateway/_webhooks").json().get("deliveries", [])
        except (httpx.HTTPError, ValueError):
            return {}
        failed = sum(1 for d in deliveries if not 200 <= (d.get("status_code") or 0) < 300)
        return {"gateway_refund_creates": creates, "webhooks": len(deliveries), "webhooks_failed": failed}

    def log_offset(self) -> int:
        return self.app_log.stat().st_size

    def log_since(self, offset: int) -> str:
        with open(self.app_log, "rb") as fh:
            fh.seek(offset)
            return fh.read().decode(errors="replace")

    def postgres_pids(self) -> list[int]:
        """The PostgreSQL backends serving this configuration's database (their title names it)."""
        if not self.pg_db:
            return []
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if f" {self.pg_db} ".encode() in (entry / "cmdline").read_bytes().replace(b"\0", b" ") + b" ":
                        pids.append(int(entry.name))
                except OSError:
                    continue
        return pids


# ------------------------------------------------------------------ server log

HELD = re.compile(r"was held too long.*?Happened in event: (\S+)")
EXCEPTION = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt)\b.*)$")


def _short(name: str) -> str:
    return name.rsplit(".", 2)[-2].rsplit("____", 1)[-1] + "." + name.rsplit(".", 1)[-1] if "." in name else name


def log_counts(text: str) -> dict[str, object]:
    """The app log of one level: Reflex's "held too long" lock warnings (by event), and the
    other errors -- each backend exception report or ERROR record once, named by the last
    exception line of its (possibly chained) traceback."""
    held: dict[str, int] = {}
    errors: dict[str, int] = {}

    def count(key: str) -> None:
        key = re.sub(r"\d+", "N", key.strip())[:140]
        errors[key] = errors.get(key, 0) + 1

    in_report, last = False, ""
    for line in text.splitlines():
        if (m := HELD.search(line)):
            key = _short(m.group(1))
            held[key] = held.get(key, 0) + 1
            continue
        starts = "[Reflex Backend Exception]" in line or line.startswith("Traceback (most recent call last)")
        if in_report:
            if starts or not line.strip() or line.startswith((" ", "\t", "The above exception", "During handling")):
                continue
            if EXCEPTION.match(line.strip()):
                last = line
                continue
            count(last or "(exception report without an exception line)")
            in_report, last = False, ""
        if starts:
            in_report, last = True, ""
        elif re.search(r"\bERROR\b", line):
            count(line)
    if in_report:
        count(last or "(exception report without an exception line)")
    top = sorted(errors.items(), key=lambda kv: -kv[1])[:6]
    return {"held_too_long": sum(held.values()), "held_too_long_by_event": held, "error_lines": sum(errors.values()),
            "error_samples": [f"{n}x {k}" for k, n in top]}


# ------------------------------------------------------------------ /proc sampling

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def _stat(pid: int) -> tuple[int, float, int] | None:
    """(ppid, cpu seconds user+system, rss bytes) of one process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rfind(")") + 2:].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / CLK_TCK, int(fields[21]) * PAGE


def process_tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            st = _stat(int(entry.name))
            if st:
                children.setdefault(st[0], []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


class TreeSampler:
    """CPU and peak RSS of a set of processes over an interval: start(), sample() now and then, result().

    A process that appears after start() is counted from zero; CPU of one that exits between
    two samples is lost since its last sample (ours live through the whole level)."""

    def __init__(self, pids_fn) -> None:
        self.pids_fn = pids_fn
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.peak_rss = 0
        self.t0 = self.t1 = time.monotonic()

    def start(self) -> None:
        self.first, self.last, self.peak_rss = {}, {}, 0
        self.t0 = time.monotonic()
        for pid in self.pids_fn():
            if (st := _stat(pid)) is not None:
                self.first[pid] = self.last[pid] = st[1]
        self.t1 = self.t0

    def sample(self) -> None:
        rss = 0
        for pid in self.pids_fn():
            if (st := _stat(pid)) is None:
                continue
            self.first.setdefault(pid, 0.0)
            self.last[pid] = st[1]
            rss += st[2]
        self.peak_rss = max(self.peak_rss, rss)
        self.t1 = time.monotonic()

    def result(self) -> dict[str, float]:
        wall = max(1e-9, self.t1 - self.t0)
        used = sum(self.last[pid] - first for pid, first in self.first.items())
        return {"cpu_pct": round(100 * used / wall, 1), "peak_rss_mb": round(self.peak_rss / 2**20, 1)}


class SpeedProbe:
    """The machine's speed during a window (bench/speed_probe.py in a process of its own):
    the mean CPU time of its reference loop, in ms. Dividing a CPU cost by it tells the
    code's cost apart from the speed of these shared cores, which moves with their load."""

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("speed_probe.py"))],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def result(self) -> dict:
        out, _ = self.proc.communicate("", timeout=30)
        return json.loads(out.strip().splitlines()[-1])


class MachineSampler:
    """All CPUs of the machine over an interval (/proc/stat), and the load average: the cores are
    shared, so the app's figures read differently when other processes were busy too."""

    @staticmethod
    def _read() -> tuple[float, float, float]:
        """(all, idle, stolen) CPU seconds so far; stolen: what a virtual machine's host
        kept for others while this machine wanted to run (``steal`` in /proc/stat)."""
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        steal = fields[7] if len(fields) > 7 else 0
        return sum(fields[:8]) / CLK_TCK, idle / CLK_TCK, steal / CLK_TCK

    def start(self) -> None:
        self.t0, (self.total0, self.idle0, self.steal0) = time.monotonic(), self._read()
        self.load0 = os.getloadavg()[0]

    def result(self) -> dict[str, float]:
        total, idle, steal = self._read()
        stolen = steal - self.steal0
        busy = (total - self.total0) - (idle - self.idle0) - stolen
        wall = max(1e-9, time.monotonic() - self.t0)
        return {"machine_cpu_pct": round(100 * busy / wall, 1), "stolen_cpu_pct": round(100 * stolen / wall, 1),
                "cores": os.cpu_count() or 1, "loadavg_start": round(self.load0, 2),
                "loadavg_end": round(os.getloadavg()[0], 2)}
