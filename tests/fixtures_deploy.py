"""deploy/ files for tests: render deploy/nginx.conf.template and run Debian's nginx
with it (`apt-get install nginx-light`), in a temporary prefix of its own.

``render_nginx_conf`` is what the image's envsubst does in deploy/compose.yaml:
string.Template.safe_substitute leaves nginx's own $variables alone, and every
${PLACEHOLDER} of the template must be given a value.
"""

from __future__ import annotations

import re
import shutil
import signal
import socket
import string
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from support_app.settings import ROOT

NGINX_TEMPLATE = ROOT / "deploy" / "nginx.conf.template"
PLACEHOLDER = re.compile(r"\$\{([A-Z_]+)\}")


def render_nginx_conf(listen: str, upstreams: list[str]) -> str:
    """The template with LISTEN_PORT (port or address:port) and one server line per upstream."""
    text = NGINX_TEMPLATE.read_text()
    values = {"LISTEN_PORT": listen, "APP_UPSTREAMS": "\n    ".join(f"server {u};" for u in upstreams)}
    missing = set(PLACEHOLDER.findall(text)) - set(values)
    assert not missing, f"nginx template placeholders without a value: {missing}"
    return string.Template(text).safe_substitute(values)


def nginx_binary() -> str:
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if not found:
        pytest.skip("nginx is not installed (apt-get install nginx-light)")
    return found


def write_nginx_prefix(prefix: Path, site_conf: str) -> Path:
    """A minimal main config in ``prefix`` including ``site_conf``; returns its path."""
    (prefix / "support_app.conf").write_text(site_conf)
    main = prefix / "nginx.conf"
    main.write_text(f"""
worker_processes 1;
error_log {prefix}/error.log warn;
pid {prefix}/nginx.pid;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    include {prefix}/support_app.conf;
}}
""")
    return main


def check_nginx_conf(prefix: Path, site_conf: str) -> subprocess.CompletedProcess:
    main = write_nginx_prefix(prefix, site_conf)
    return subprocess.run([nginx_binary(), "-t", "-p", str(prefix), "-c", str(main)],
                          capture_output=True, text=True, timeout=30)


def free_port(ports: range) -> int:
    for port in ports:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {ports}")


@contextmanager
def run_nginx(prefix: Path, site_conf: str, port: int) -> Iterator[str]:
    """nginx in the foreground with ``site_conf`` listening on 127.0.0.1:``port``;
    yields its base URL once it accepts connections; stopped and reaped after."""
    main = write_nginx_prefix(prefix, site_conf)
    proc = subprocess.Popen([nginx_binary(), "-p", str(prefix), "-c", str(main), "-g", "daemon off;"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                log = prefix / "error.log"
                raise RuntimeError(f"nginx exited: {proc.stdout.read()}{log.read_text() if log.exists() else ''}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("nginx did not start listening") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
