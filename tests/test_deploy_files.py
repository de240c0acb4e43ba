"""Invariants of the deploy files: the Dockerfile builds the frontend in a build stage
and runs as a non-root user with a health check; .dockerignore (matched as Docker
matches it) keeps secrets, databases and local builds out; deploy/compose.yaml has the
production topology with no committed secret; deploy/nginx.conf.template passes
`nginx -t` and, run with Debian's nginx in front of two real servers, balances without
stickiness, upgrades the websocket and sets X-Forwarded-For/-Proto."""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import socket
import subprocess

import httpx
import pytest
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from fixtures_deploy import check_nginx_conf, free_port, render_nginx_conf, run_nginx
from fixtures_http import serve_asgi
from support_app.security.client_ip import resolve_client_ip
from support_app.settings import ROOT, Settings

DEPLOY = ROOT / "deploy"


# -- Dockerfile ------------------------------------------------------------------


def dockerfile_stages() -> list[list[str]]:
    """Instructions (continuations joined, comments dropped) grouped by FROM."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    stages: list[list[str]] = [[]]
    for line in lines:
        if line.upper().startswith("FROM "):
            stages.append([])
        stages[-1].append(line)
    return stages


def instructions(stage: list[str], keyword: str) -> list[str]:
    return [line[len(keyword) + 1:] for line in stage if line.upper().startswith(keyword + " ")]


def test_dockerfile_builds_the_frontend_in_a_build_stage():
    preamble, build, runtime = dockerfile_stages()
    assert build[0].endswith(" AS build") and runtime[0].endswith(" AS runtime")
    build_runs = " ".join(instructions(build, "RUN"))
    assert "npm install" in build_runs and "bun@1.4.4" in build_runs
    assert "pip install -r /build/requirements.txt" in build_runs
    assert "reflex export --frontend-only --no-zip" in build_runs and "test -f .web/build/client/index.html" in build_runs
    copies = instructions(runtime, "COPY")
    assert "--from=build /build/.web/build/client ./.web/build/client" in copies
    assert "--from=build /build/.web/backend ./.web/backend" in copies


def test_dockerfile_runtime_is_slim_non_root_with_a_health_check_and_no_build_tools():
    preamble, build, runtime = dockerfile_stages()
    assert "PYTHON_IMAGE=python:3.11-slim-bookworm" in instructions(preamble, "ARG")
    assert runtime[0] == "FROM ${PYTHON_IMAGE} AS runtime"
    [user] = instructions(runtime, "USER")
    assert user not in ("root", "0") and not user.startswith("0:")
    body = "\n".join(runtime)
    for tool in ("nodejs", "npm", "bun", "curl", "wget", "reflex export", "reflex run", "apt-get"):
        assert tool not in body, tool
    assert all(c.startswith("--from=build ") for c in instructions(runtime, "COPY"))  # never the whole context
    [health] = instructions(runtime, "HEALTHCHECK")
    assert "CMD [\"python\"" in health and "/api/health/live" in health
    [cmd] = instructions(runtime, "CMD")
    assert json.loads(cmd) == ["python", "-m", "support_app.cli", "serve", "--host", "0.0.0.0", "--port", "3000"]
    assert "migrate" not in cmd
    env = " ".join(instructions(runtime, "ENV"))
    assert "SUPPORT_ENVIRONMENT=production" in env and "SECRET" not in env and "PASSWORD" not in env


# -- .dockerignore, matched the way Docker matches it -------------------------------


def docker_pattern(pattern: str) -> re.Pattern:
    """moby/patternmatcher: '*' and '?' stay within a path segment, '**' spans any."""
    out, i = "", 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):
                i += 1
                out += "(.*/)?"
            else:
                out += ".*"
            continue
        out += {"*": "[^/]*", "?": "[^/]"}.get(ch, re.escape(ch))
        i += 1
    return re.compile(f"^{out}$")


def dockerignored(path: str, patterns: list[str]) -> bool:
    """A path is out when the last pattern matching it, or one of its parent folders, excludes."""
    parts = path.split("/")
    candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    excluded = False
    for raw in patterns:
        negate = raw.startswith("!")
        pattern = docker_pattern(raw.lstrip("!").strip("/"))
        if any(pattern.match(c) for c in candidates):
            excluded = not negate
    return excluded


def dockerignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


@pytest.mark.parametrize("path", [
    ".env", ".env.production", "deploy/.env", "deploy/app.env", "support_app/.env",
    "data/jwt_secret", "data/gateway_webhook_secret", "data/support.db", "data/sandbox.db",
    "support.db", "support.db-wal", "x/y/support.db-shm", "data/support.db.migrate-lock", "a/b.sqlite3",
    ".git/config", ".venv/bin/python", ".tools/node_modules/.bin/bun", ".cache/bun/x", ".web/build/client/index.html",
    ".states/abc", "tests/test_cli.py", "htmlcov/index.html", "test-results/trace.zip", ".coverage", ".coverage.host.1",
    "support_app/__pycache__/cli.cpython-311.pyc", "alembic/versions/__pycache__/x.pyc", "certs/server.key",
    "bench/overview.py",
])
def test_dockerignore_keeps_out(path):
    assert dockerignored(path, dockerignore_patterns())


@pytest.mark.parametrize("path", [
    "Dockerfile", "requirements.txt", "rxconfig.py", "alembic.ini", "alembic/env.py", "alembic/versions/0001_initial.py",
    "support_app/cli.py", "support_app/settings.py", "support_app/api/health.py", "reflex.lock/bun.lock",
    "reflex.lock/package.json",
])
def test_dockerignore_keeps_what_the_build_needs(path):
    assert not dockerignored(path, dockerignore_patterns())


def test_the_matcher_is_docker_s_not_git_s():
    assert not dockerignored("data/x.db", ["*.db"])  # root only, as in Docker
    assert dockerignored("data/x.db", ["**/*.db"]) and dockerignored("x.db", ["**/*.db"])
    assert not dockerignored("keep.db", ["**/*.db", "!keep.db"])


# -- deploy/compose.yaml --------------------------------------------------------------


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


INTERPOLATION = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR:?error} against ``env``."""
    def one(m: re.Match) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3)
        if env.get(name):
            return env[name]
        if op and op.endswith("?"):
            raise KeyError(f"{name}: {arg}")
        return arg or ""
    return INTERPOLATION.sub(one, value)


def example_env() -> dict[str, str]:
    pairs = [line.split("=", 1) for line in (DEPLOY / ".env.example").read_text().splitlines()
             if line and not line.startswith("#")]
    return {k: v for k, v in pairs}


def test_compose_has_the_production_topology():
    services = compose()["services"]
    assert set(services) == {"postgres", "redis", "migrate", "app1", "app2", "worker", "sandbox", "nginx"}
    assert services["migrate"]["command"] == ["python", "-m", "support_app.cli", "migrate"]
    assert services["migrate"]["restart"] == "no"
    assert services["worker"]["command"] == ["python", "-m", "support_app.worker"]
    assert services["sandbox"]["command"][:3] == ["python", "-m", "support_app.sandbox"]
    for name in ("app1", "app2", "worker"):
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        assert services[name]["environment"]["SUPPORT_EMBEDDED_WORKER"] == "false"
    for name in ("app1", "app2"):
        assert "command" not in services[name]  # the image's CMD: serve, never migrate
    assert {n for n, s in services.items() if "ports" in s} == {"nginx"}  # the only entry point
    nginx = services["nginx"]
    assert "./nginx.conf.template:/etc/nginx/templates/default.conf.template:ro" in nginx["volumes"]
    assert re.findall(r"server (app\d):3000", nginx["environment"]["APP_UPSTREAMS"]) == ["app1", "app2"]
    assert {"app1": {"condition": "service_healthy"}, "app2": {"condition": "service_healthy"}} == nginx["depends_on"]


def test_compose_health_checks():
    services = compose()["services"]
    for name in ("postgres", "redis", "sandbox", "nginx"):
        assert services[name]["healthcheck"]["test"][0] == "CMD", name
    for name in ("app1", "app2"):  # the image's HEALTHCHECK (GET /api/health/live)
        assert "healthcheck" not in services[name]
    assert services["migrate"]["healthcheck"] == {"disable": True}


def test_compose_commits_no_secret():
    text = (DEPLOY / "compose.yaml").read_text()
    for name, service in compose()["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if "SECRET" in key or "PASSWORD" in key or key.endswith("_KEYS") or key == "SUPPORT_BLIND_INDEX_KEY":
                assert re.fullmatch(r"\$\{\w+:\?[^}]+\}", value), (name, key)
    assert text.count("${POSTGRES_PASSWORD:?") >= 2 and "hunter" not in text
    example = example_env()
    assert all(example[k] == "" for k in ("SUPPORT_JWT_KEYS", "SUPPORT_GATEWAY_WEBHOOK_SECRET", "POSTGRES_PASSWORD",
                                          "SUPPORT_DATA_KEYS", "SUPPORT_BLIND_INDEX_KEY"))
    ignored = subprocess.run(["git", "check-ignore", "-q", "deploy/.env"], cwd=ROOT)
    assert ignored.returncode == 0
    assert subprocess.run(["git", "check-ignore", "-q", "deploy/.env.example"], cwd=ROOT).returncode == 1


def test_compose_refuses_to_start_without_the_secrets():
    app_env = compose()["services"]["app1"]["environment"]
    with pytest.raises(KeyError, match="SUPPORT_JWT_KEYS"):
        interpolate(app_env["SUPPORT_JWT_KEYS"], example_env())


def test_compose_settings_start_and_production_would_refuse_only_what_the_file_says(monkeypatch):
    """The app's environment, filled from .env.example plus real secrets, is valid; as
    SUPPORT_ENVIRONMENT=production it is refused exactly for the http order system,
    gateway and origin (the header of compose.yaml says so)."""
    filled = {**example_env(), "SUPPORT_JWT_KEYS": "k1:" + secrets.token_urlsafe(48),
              "SUPPORT_GATEWAY_WEBHOOK_SECRET": secrets.token_urlsafe(48), "POSTGRES_PASSWORD": secrets.token_urlsafe(24),
              "SUPPORT_DATA_KEYS": f"k1:{base64.b64encode(os.urandom(32)).decode()}",
              "SUPPORT_BLIND_INDEX_KEY": base64.b64encode(os.urandom(32)).decode()}
    env = {k: interpolate(str(v), filled) for k, v in compose()["services"]["app1"]["environment"].items()}
    for key in list(os.environ):
        if key.startswith("SUPPORT_") or key == "REFLEX_REDIS_URL":
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.environment == "test" and settings.problems(env) == []
    assert (settings.trusted_proxy_hops, settings.cors_origins) == (1, ["http://localhost:3000"])
    assert settings.database_url.startswith("postgresql+psycopg://support:")

    monkeypatch.setenv("SUPPORT_ENVIRONMENT", "production")
    refused = [line.split()[0] for line in Settings().problems(env)]
    assert refused == ["SUPPORT_ORDER_SYSTEM_URL", "SUPPORT_PAYMENT_GATEWAY_URL", "SUPPORT_CORS_ORIGINS"]


# -- deploy/nginx.conf.template, with Debian's nginx ------------------------------------


def test_template_renders_and_passes_nginx_t(tmp_path):
    conf = render_nginx_conf("127.0.0.1:4299", ["127.0.0.1:4201", "127.0.0.1:4202 max_fails=3"])
    assert "${" not in conf and "$proxy_add_x_forwarded_for" in conf and "ip_hash" not in conf
    done = check_nginx_conf(tmp_path, conf)
    assert done.returncode == 0, done.stderr
    assert "test is successful" in done.stderr


def echo_app(name: str) -> Starlette:
    async def echo(request: Request) -> JSONResponse:
        return JSONResponse({
            "backend": name, "path": request.url.path, "host": request.headers.get("host"),
            "forwarded_for": request.headers.get("x-forwarded-for"),
            "forwarded_proto": request.headers.get("x-forwarded-proto"),
            "cookie_length": len(request.headers.get("cookie", "")),
        })

    async def event(ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text(f"hello from {name}")
        await ws.close()

    async def login(request: Request) -> RedirectResponse:  # as the app's static pages do
        return RedirectResponse(str(request.url.replace(path="/login/")), status_code=307)

    return Starlette(routes=[WebSocketRoute("/_event/", event), Route("/login", login), Route("/{path:path}", echo)])


@pytest.fixture
def balanced(tmp_path):
    """nginx from the template (port 4250-4299) in front of two real servers a and b."""
    with serve_asgi(echo_app("a")) as a, serve_asgi(echo_app("b")) as b:
        port = free_port(range(4250, 4300))
        conf = render_nginx_conf(f"127.0.0.1:{port}", [a.removeprefix("http://"), b.removeprefix("http://")])
        with run_nginx(tmp_path, conf, port) as url:
            yield url, port


def websocket_first_message(port: int, path: str) -> tuple[str, str]:
    """A raw RFC 6455 handshake through nginx; (status line, first text frame)."""
    key = base64.b64encode(os.urandom(16)).decode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall((f"GET {path} HTTP/1.1\r\nHost: support.example\r\nUpgrade: websocket\r\n"
                      f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(4096)
        head, rest = data.split(b"\r\n\r\n", 1)
        while len(rest) < 2 or len(rest) < 2 + (rest[1] & 0x7F):
            rest += sock.recv(4096)
        assert rest[0] == 0x81  # FIN + text frame, unmasked from the server
        return head.split(b"\r\n")[0].decode(), rest[2:2 + (rest[1] & 0x7F)].decode()


def test_nginx_balances_without_stickiness_and_forwards_the_client(balanced):
    url, _ = balanced
    with httpx.Client(timeout=10) as client:
        seen = [client.get(f"{url}/cases/", headers={"X-Forwarded-For": "6.6.6.6"}).json() for _ in range(6)]
    assert {s["backend"] for s in seen} == {"a", "b"}  # one client, both replicas
    first = seen[0]
    assert first["forwarded_for"] == "6.6.6.6, 127.0.0.1" and first["forwarded_proto"] == "http"
    assert first["host"] == url.removeprefix("http://") and first["path"] == "/cases/"  # the port kept
    # What the app makes of it with SUPPORT_TRUSTED_PROXY_HOPS=1: nginx's view, not the forgery.
    assert resolve_client_ip("127.0.0.1", first["forwarded_for"], 1) == "127.0.0.1"


def test_app_redirects_keep_the_public_port(balanced):
    url, _ = balanced
    response = httpx.get(f"{url}/login", timeout=10)
    assert response.status_code == 307 and response.headers["location"] == f"{url}/login/"


def test_nginx_upgrades_reflex_websocket(balanced):
    _, port = balanced
    status, message = websocket_first_message(port, "/_event/?EIO=4&transport=websocket")
    assert status == "HTTP/1.1 101 Switching Protocols"
    assert message in ("hello from a", "hello from b")


def test_nginx_health_and_large_headers(balanced):
    url, _ = balanced
    with httpx.Client(timeout=10) as client:
        health = client.get(f"{url}/nginx-health")
        assert (health.status_code, health.text) == (200, "ok\n")
        assert client.get(f"{url}/api/health/live").json()["path"] == "/api/health/live"
        big = client.get(f"{url}/", headers={"Cookie": "c=" + "x" * 12_000})  # > nginx's default 8k buffer
        assert big.status_code == 200 and big.json()["cookie_length"] == 12_002
        huge = client.get(f"{url}/", headers={"Cookie": "c=" + "x" * 20_000})
        assert huge.status_code in (400, 494)  # bounded all the same


def test_rendering_documented_for_the_image_s_envsubst():
    """The official image substitutes ${VAR} for variables set in its environment:
    the template's placeholders are exactly the compose service's variables."""
    text = (DEPLOY / "nginx.conf.template").read_text()
    assert set(re.findall(r"\$\{(\w+)\}", text)) == set(compose()["services"]["nginx"]["environment"])
    comments = "\n".join(line for line in text.splitlines() if line.lstrip().startswith("#"))
    assert "${" not in comments  # envsubst substitutes in comments too
    assert not re.search(r"\$[A-Z]", text.replace("${LISTEN_PORT}", "").replace("${APP_UPSTREAMS}", ""))
