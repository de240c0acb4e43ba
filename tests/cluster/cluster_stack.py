"""The production topology as real processes on this machine, for the cluster test
(tests/cluster) and the cluster benchmark (bench/cluster.py). No pytest in here.

    browser / raw sockets -> nginx (deploy/nginx.conf.template, round robin, no stickiness)
        -> app1, app2: ``python -m support_app.cli serve`` (Reflex's production backend,
           GRANIAN_WORKERS=2 each, the one prebuilt frontend)
    app1, app2, worker (``python -m support_app.worker``) -> PostgreSQL (a fresh
        database cluster_<random>), Redis (SUPPORT_REDIS_URL with a per-run key prefix;
        REFLEX_REDIS_URL: a database of its own), the sandbox process (order system + gateway)

Redis databases are CLUSTER_REDIS_URL (default db 10) and CLUSTER_REFLEX_REDIS_URL
(default db 11): Reflex's keys carry no prefix, so the second one must belong to this
run alone (it is flushed before and after). PostgreSQL: CLUSTER_POSTGRES_ADMIN_URL
(default postgres@127.0.0.1:5432/postgres) creates and drops the database. Ports come
from CLUSTER_PORTS (default 4600-4699), each checked free before use.

Everything started is stopped in ``close()`` (Ctrl-C to each process group, so coverage
is saved under COVERAGE_APP=1; SIGKILL after 30 s), and the database is dropped.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import string
import subprocess
import sys
import time
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

from fixtures_browser import ROOT, frontend_build_turn, web_dir

PY = sys.executable
NGINX_TEMPLATE = ROOT / "deploy" / "nginx.conf.template"
REDIS_URL = os.environ.get("CLUSTER_REDIS_URL", "redis://127.0.0.1:6379/10")
REFLEX_REDIS_URL = os.environ.get("CLUSTER_REFLEX_REDIS_URL", "redis://127.0.0.1:6379/11")
PG_ADMIN_URL = os.environ.get("CLUSTER_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PASSWORD = "demo-pass-2026"  # the demo accounts' (support_app/devdata/demo.py)
READY_SECONDS = 120  # a guard against hanging, never a performance claim


def port_range() -> range:
    low, high = os.environ.get("CLUSTER_PORTS", "4600-4699").split("-")
    return range(int(low), int(high) + 1)


class Ports:
    """Free ports from CLUSTER_PORTS, never the same one twice in a run."""

    def __init__(self) -> None:
        self.taken: set[int] = set()

    def take(self) -> int:
        for port in port_range():
            if port in self.taken:
                continue
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    continue
            self.taken.add(port)
            return port
        raise RuntimeError(f"no free port in CLUSTER_PORTS={port_range()}")


def nginx_binary() -> str:
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if not found:
        raise RuntimeError("nginx is not installed: `make test` installs Debian's nginx (apt-get install nginx)")
    return found


def python_argv(module: str, *args: str, coverage: bool = False) -> list[str]:
    """``python -m module args``, under coverage (saved on Ctrl-C) when asked."""
    if coverage:
        return [PY, "-m", "coverage", "run", "-p", "--rcfile", str(ROOT / "pyproject.toml"), "-m", module, *args]
    return [PY, "-m", module, *args]


def reflex_env() -> dict[str, str]:
    """What the Makefile exports for Reflex builds (bun from .tools, caches in the repository)."""
    cache = ROOT / ".cache"
    return {
        "PATH": f"{ROOT / '.tools/node_modules/.bin'}:{Path(PY).parent}:{os.environ.get('PATH', '')}",
        "REFLEX_USE_SYSTEM_BUN": "1",
        "REFLEX_CHECK_LATEST_VERSION": "0",
        "REFLEX_TELEMETRY_ENABLED": "false",
        "NPM_CONFIG_REGISTRY": os.environ.get("NPM_CONFIG_REGISTRY", "https://registry.npmjs.org/"),
        "REFLEX_DIR": os.environ.get("REFLEX_DIR", str(cache / "reflex")),
        "BUN_INSTALL_CACHE_DIR": os.environ.get("BUN_INSTALL_CACHE_DIR", str(cache / "bun")),
        "XDG_CACHE_HOME": os.environ.get("XDG_CACHE_HOME", str(cache / "xdg")),
        "XDG_CONFIG_HOME": os.environ.get("XDG_CONFIG_HOME", str(cache / "config")),
    }


# -- processes ------------------------------------------------------------------------


class Service:
    """One process group started from ``argv``; its output appended to ``log``."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.name, self.argv, self.env, self.log = name, argv, env, log
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Service":
        with open(self.log, "a") as fh:
            fh.write(f"\n=== {time.strftime('%H:%M:%S')} start {self.name}: {' '.join(self.argv)}\n")
            fh.flush()
            self.proc = subprocess.Popen(self.argv, cwd=ROOT, env=self.env, stdout=fh, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        return self

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def kill(self) -> None:
        """kill -9 of the whole process group (the server and its Granian workers): no clean-up at all."""
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        """Ctrl-C to the group (a clean stop; coverage is saved), SIGKILL after 30 s."""
        if self.proc is None or self.proc.poll() is not None:
            if self.proc is not None:
                self._reap_group()
            return
        try:
            os.killpg(self.proc.pid, signal.SIGINT)
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
        except ProcessLookupError:
            pass
        self._reap_group()

    def _reap_group(self) -> None:
        """Children left behind by a leader that exited (e.g. Granian workers): they get
        10 s to finish on their own (a worker still writing its coverage data, killed
        then, leaves a half-written data file that `coverage combine` cannot read),
        then are killed."""
        deadline = time.monotonic() + 10
        try:
            while time.monotonic() < deadline:
                os.killpg(self.proc.pid, 0)  # ProcessLookupError once the group is empty
                time.sleep(0.1)
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def wait_http(url: str, service: Service | None, what: str, timeout: float = READY_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if service is not None and not service.alive:
            raise RuntimeError(f"{service.name} exited ({service.proc.returncode}) before {what}:\n{service.tail()}")
        try:
            response = httpx.get(url, timeout=3)
            if response.status_code == 200:
                return
            last = f"{response.status_code} {response.text[:200]}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.25)
    tail = service.tail() if service is not None else ""
    raise RuntimeError(f"{what}: no 200 from {url} after {timeout:.0f} s (last: {last})\n{tail}")


# -- nginx ------------------------------------------------------------------------------

# One JSON object per request, written when the request ends (for a websocket: when it closes).
LOG_FORMAT = ('{"remote":"$remote_addr","port":"$remote_port","request":"$request","status":"$status",'
              '"upstream":"$upstream_addr","ua":"$http_user_agent","xff":"$http_x_forwarded_for"}')


UPSTREAM_HEADER = "X-Cluster-Upstream"


def render_nginx_conf(listen: str, upstreams: list[str]) -> str:
    """deploy/nginx.conf.template as the image's envsubst renders it (every placeholder given)."""
    text = NGINX_TEMPLATE.read_text()
    values = {"LISTEN_PORT": listen, "APP_UPSTREAMS": "\n    ".join(f"server {u};" for u in upstreams)}
    missing = set(re.findall(r"\$\{([A-Z_]+)\}", text)) - set(values)
    if missing:
        raise RuntimeError(f"nginx template placeholders without a value: {missing}")
    return string.Template(text).safe_substitute(values)


def write_nginx_main(prefix: Path, site_conf: str) -> Path:
    """A main config around the rendered site, with two additions of the harness's own at
    http level: an access log naming each request's upstream, and the same address in an
    X-Cluster-Upstream response header (on a websocket's 101 too). The template sets no
    add_header, so all its locations inherit it."""
    (prefix / "site.conf").write_text(site_conf)
    main = prefix / "nginx.conf"
    main.write_text(f"""
worker_processes 1;
error_log {prefix}/error.log warn;
pid {prefix}/nginx.pid;
events {{ worker_connections 2048; }}
http {{
    log_format cluster escape=json '{LOG_FORMAT}';
    access_log {prefix}/access.log cluster;
    add_header {UPSTREAM_HEADER} $upstream_addr always;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    include {prefix}/site.conf;
}}
""")
    return main


@dataclass(frozen=True)
class Access:
    """One line of the balancer's access log."""

    request: str
    status: str
    upstream: str  # the app that answered ("" if nginx answered itself)
    ua: str
    xff: str
    remote_port: str

    @property
    def path(self) -> str:
        parts = self.request.split(" ")
        return urlsplit(parts[1]).path if len(parts) > 1 else ""

    @property
    def token(self) -> str:
        """The Reflex client token of a websocket (its ?token=)."""
        parts = self.request.split(" ")
        query = parse_qs(urlsplit(parts[1]).query) if len(parts) > 1 else {}
        return query.get("token", [""])[0]

    @property
    def is_socket(self) -> bool:
        return self.path.startswith("/_event") and self.status == "101"


def read_access_log(path: Path) -> list[Access]:
    out = []
    for line in path.read_text().splitlines() if path.exists() else []:
        row = json.loads(line)
        upstream = row["upstream"].split(",")[-1].strip()  # "a, b" when a failed and b answered
        out.append(Access(row["request"], row["status"], "" if upstream == "-" else upstream, row["ua"],
                          row["xff"], row["port"]))
    return out


# -- the stack ---------------------------------------------------------------------------


@dataclass
class App:
    name: str
    port: int
    service: Service

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"


@dataclass
class Stack:
    """Start with ``start()`` (or ``with Stack(...) as stack``); everything ends in ``close()``."""

    tmp: Path
    apps: int = 2
    coverage: bool = False
    settings: dict[str, str] = field(default_factory=dict)  # extra SUPPORT_* for the apps and the worker
    worker_settings: dict[str, str] = field(default_factory=dict)
    build: bool = True  # False: reuse the frontend built in ``web`` (built for this nginx port)
    # Its own frontend directory, so it can be built beside the browser suite's.
    web: Path = field(default_factory=lambda: web_dir("cluster"))
    nginx_port: int | None = None

    def __post_init__(self) -> None:
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.ports = Ports()
        if self.nginx_port is not None:
            self.ports.taken.add(self.nginx_port)
        self.run_id = secrets.token_hex(4)
        self.db_name = f"cluster_{self.run_id}"
        self.db_url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{self.db_name}"
        self.redis_prefix = f"cluster-{self.run_id}:"
        self._exit = ExitStack()
        self.app: dict[str, App] = {}
        self.migrations: list[tuple[int, str]] = []  # (exit status, stderr) of each migrate runner
        self.timings: dict[str, float] = {}

    # -- public -----------------------------------------------------------------

    def __enter__(self) -> "Stack":
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.nginx_port}"

    @property
    def sandbox(self) -> str:
        return f"http://127.0.0.1:{self.sandbox_port}"

    @property
    def access_log(self) -> Path:
        return self.tmp / "nginx" / "access.log"

    def accesses(self) -> list[Access]:
        return read_access_log(self.access_log)

    def upstream_name(self, address: str) -> str:
        return next((a.name for a in self.app.values() if a.address == address), address)

    def start(self) -> None:
        t0 = time.monotonic()
        self.nginx_port = self.nginx_port or self.ports.take()
        self.sandbox_port = self.ports.take()
        for i in range(1, self.apps + 1):
            self.app[f"app{i}"] = App(f"app{i}", self.ports.take(), None)  # type: ignore[arg-type]
        self.env = self._env()
        self._create_database()
        self._flush_redis()
        self._exit.callback(self._flush_redis)
        with frontend_build_turn() if self.build else nullcontext():
            build = self._start_build() if self.build else None
            self.sandbox_service = self._service("sandbox", python_argv(
                "support_app.sandbox", "--port", str(self.sandbox_port), "--db", str(self.tmp / "sandbox.db"),
                "--webhook-url", f"{self.url}/api/gateway/webhook", coverage=self.coverage))
            self.sandbox_service.start()
            self._migrate_twice()
            self._cli("seed-demo", "--accounts-only")  # the accounts; the 90-day history is make run's
            wait_http(f"{self.sandbox}/health", self.sandbox_service, "the sandbox")
            if build is not None:
                self._finish_build(*build)
        self._check_build()
        for app in self.app.values():
            app.service = self._service(app.name, python_argv(
                "support_app.cli", "serve", "--host", "127.0.0.1", "--port", str(app.port), coverage=self.coverage))
            app.service.start()
        self.worker = self.start_worker()
        for app in self.app.values():
            self.wait_ready(app)
        self._start_nginx()
        # Through the balancer: every app ready (one request per app, round robin).
        for _ in self.app:
            wait_http(f"{self.url}/api/health/ready", None, "readiness through nginx")
        self.timings["start"] = time.monotonic() - t0

    def wait_ready(self, app: App) -> None:
        wait_http(f"{app.url}/api/health/ready", app.service, f"{app.name} ready")

    def restart(self, app: App) -> None:
        app.service.stop()
        app.service.start()
        self.wait_ready(app)

    def start_worker(self) -> Service:
        env = {**self.env, **self.worker_settings}
        service = self._service("worker", python_argv("support_app.worker", coverage=self.coverage), env)
        return service.start()

    def close(self) -> None:
        self._exit.close()

    # -- steps ------------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        # COVERAGE_PROCESS_CONFIG (set by `coverage run` with patch=subprocess) would
        # measure every Python child, the frontend build included; the processes that
        # run the app are measured explicitly instead (python_argv), once each.
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("SUPPORT_", "REFLEX_", "GRANIAN_")) and k != "COVERAGE_PROCESS_CONFIG"}
        env.update(reflex_env())
        env.update(
            SUPPORT_ENVIRONMENT="test",
            SUPPORT_DATABASE_URL=self.db_url,
            SUPPORT_REDIS_URL=REDIS_URL,
            SUPPORT_REDIS_PREFIX=self.redis_prefix,
            REFLEX_REDIS_URL=REFLEX_REDIS_URL,
            SUPPORT_JWT_KEYS="k1:" + secrets.token_urlsafe(48),
            SUPPORT_GATEWAY_WEBHOOK_SECRET=secrets.token_urlsafe(48),
            SUPPORT_ORDER_SYSTEM_URL=f"{self.sandbox}/orders",
            SUPPORT_PAYMENT_GATEWAY_URL=f"{self.sandbox}/gateway",
            SUPPORT_TRUSTED_PROXY_HOPS="1",
            SUPPORT_EMBEDDED_WORKER="false",
            GRANIAN_WORKERS="2",
            REFLEX_WEB_WORKDIR=str(self.web),
            PYTHONDONTWRITEBYTECODE="1",
        )
        env.update(self.settings)
        return env

    def _service(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Service:
        service = Service(name, argv, env or self.env, self.tmp / f"{name}.log")
        self._exit.callback(service.stop)
        return service

    def _create_database(self) -> None:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.db_name}"')
        self._exit.callback(self._drop_database)

    def _drop_database(self) -> None:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')

    def _flush_redis(self) -> None:
        """Reflex's database whole (it is this run's), and this run's keys in the app's."""
        import redis

        with redis.Redis.from_url(REFLEX_REDIS_URL) as client:
            client.flushdb()
        with redis.Redis.from_url(REDIS_URL) as client:
            for key in client.scan_iter(self.redis_prefix + "*", count=1000):
                client.delete(key)

    def _cli(self, *args: str) -> None:
        done = subprocess.run(python_argv("support_app.cli", *args), cwd=ROOT, env=self.env, capture_output=True,
                              text=True, timeout=READY_SECONDS)
        if done.returncode:
            raise RuntimeError(f"cli {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")

    def _migrate_twice(self) -> None:
        """`cli migrate` from two processes at once. The lock is held here first, so both
        runners are certain to meet it: each must say it waits, then both succeed."""
        from sqlalchemy import create_engine
        from sqlalchemy.pool import NullPool

        from support_app.migration_lock import pg_lock, pg_unlock

        holder = create_engine(self.db_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        runners: list[subprocess.Popen] = []
        try:
            with holder.connect() as conn:
                pg_lock(conn)
                try:
                    runners = [subprocess.Popen(python_argv("support_app.cli", "migrate", coverage=self.coverage),
                                                cwd=ROOT, env=self.env, stdout=subprocess.PIPE,
                                                stderr=subprocess.PIPE, text=True) for _ in range(2)]
                    deadline = time.monotonic() + READY_SECONDS
                    while conn.exec_driver_sql(
                            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                    ).scalar() < 2:
                        if time.monotonic() > deadline or any(r.poll() is not None for r in runners):
                            break
                        time.sleep(0.05)
                finally:
                    pg_unlock(conn)
        finally:
            holder.dispose()
            for runner in runners:
                _, err = runner.communicate(timeout=READY_SECONDS)
                self.migrations.append((runner.returncode, err))
        if any(code for code, _ in self.migrations):
            raise RuntimeError(f"migrate failed: {self.migrations}")

    def _start_build(self) -> tuple[subprocess.Popen, dict[Path, bytes], float]:
        """One `reflex export --frontend-only --no-zip`, the balancer's URL compiled in."""
        saved = {p: p.read_bytes() for p in (ROOT / "reflex.lock").glob("*") if p.is_file()}
        log = open(self.tmp / "build.log", "w")
        proc = subprocess.Popen([str(Path(PY).parent / "reflex"), "export", "--frontend-only", "--no-zip",
                                 "--loglevel", "warning"], cwd=ROOT, env={**self.env, "REFLEX_API_URL": self.url},
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self._exit.callback(lambda: proc.poll() is None and os.killpg(proc.pid, signal.SIGKILL))
        return proc, saved, time.monotonic()

    def _finish_build(self, proc: subprocess.Popen, saved: dict[Path, bytes], t0: float) -> None:
        code = proc.wait(timeout=600)
        self.timings["build"] = time.monotonic() - t0
        if code:
            raise RuntimeError(f"reflex export failed ({code}):\n{(self.tmp / 'build.log').read_text()[-4000:]}")
        # Reflex writes reflex.lock/package.json back as one-line JSON: keep the
        # committed formatting when the content is the same.
        for path, before in saved.items():
            if path.suffix == ".json" and path.read_bytes() != before and json.loads(path.read_bytes()) == json.loads(before):
                path.write_bytes(before)

    def _check_build(self) -> None:
        """The built frontend exists and talks to this balancer (its URL is compiled in)."""
        env_json = self.web / "env.json"
        if not (self.web / "build" / "client" / "index.html").exists() or not env_json.exists():
            raise RuntimeError(f"no built frontend in {self.web}/build/client")
        event = json.loads(env_json.read_text())["EVENT"]
        if not event.startswith(f"ws://127.0.0.1:{self.nginx_port}/"):
            raise RuntimeError(f"the built frontend talks to {event}, not to the balancer on {self.nginx_port}")

    def _start_nginx(self) -> None:
        prefix = self.tmp / "nginx"
        prefix.mkdir(exist_ok=True)
        conf = render_nginx_conf(f"127.0.0.1:{self.nginx_port}", [a.address for a in self.app.values()])
        main = write_nginx_main(prefix, conf)
        check = subprocess.run([nginx_binary(), "-t", "-p", str(prefix), "-c", str(main)], capture_output=True, text=True)
        if check.returncode:
            raise RuntimeError(f"nginx -t failed:\n{check.stderr}")
        self.nginx = Service("nginx", [nginx_binary(), "-p", str(prefix), "-c", str(main), "-g", "daemon off;"],
                             self.env, self.tmp / "nginx.log")
        self._exit.callback(self._stop_nginx)
        self.nginx.start()
        wait_http(f"{self.url}/nginx-health", self.nginx, "nginx")

    def _stop_nginx(self) -> None:
        if self.nginx.alive:
            os.killpg(self.nginx.proc.pid, signal.SIGTERM)  # nginx's fast shutdown
            self.nginx.proc.wait(timeout=30)
