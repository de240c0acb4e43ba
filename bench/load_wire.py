"""The browser's side of Reflex 0.10's wire protocol, for the load benchmark.

A minimal websocket client (RFC 6455 over asyncio streams, text frames, no extensions),
Engine.IO v4 / Socket.IO v5 framing on the websocket transport, and a ``Tab``: one
browser tab of the app with its own client token and local copy of the state.

What a tab sends, exactly as ``.web/utils/state.js`` does it:

* full page load: a new websocket ``/_event/?EIO=4&transport=websocket&token=<uuid>``;
  the Socket.IO CONNECT packet carries the boot event in its auth payload:
  ``40/_event,{"event": {name: State.hydrate_and_load, payload: {vars, hashes},
  router_data}, "state_schema": ...}``. The backend answers with the state snapshot,
  then runs ``on_load_internal`` -> the page's on_load handlers -> ``set_is_hydrated(True)``.
* client-side navigation (a link or ``rx.redirect``): ``update_vars_internal`` with the
  browser-storage vars (only once a cookie var is set) and ``on_load_internal``, each
  ``42/_event,["event", {name, payload, router_data}]``.
* any other event: ``42/_event,["event", {...}]`` with the page's router_data.

Reflex 0.10 sends no "final" flag any more (``StateUpdate.final`` is deprecated and
never set) and no event id, so completion is observed on the state itself: a page
load is complete when ``is_hydrated`` turns true (the last event of the on_load chain);
other events are followed by a *barrier* event, ``OnLoadInternalState.set_is_hydrated(True)``
(a leaf state, no I/O): events of one token run one at a time in order, so its delta
arrives after every update of the events sent before it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import uuid
from http.cookies import SimpleCookie
from urllib.parse import urlencode
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

SUFFIX = "_rx_state_"  # Reflex's suffix of frontend var names in deltas


class Closed(Exception):
    """The websocket closed."""


class WebSocket:
    """Just enough RFC 6455 for a Socket.IO client: masked text frames out, any frames in."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.closed = False

    @classmethod
    async def connect(cls, host: str, port: int, target: str, headers: dict[str, str]) -> "WebSocket":
        reader, writer = await asyncio.open_connection(host, port, limit=2**22)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {target} HTTP/1.1", f"Host: {host}:{port}", "Upgrade: websocket", "Connection: Upgrade",
                 f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13", *(f"{k}: {v}" for k, v in headers.items())]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = await reader.readuntil(b"\r\n\r\n")
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status + b" ":
            writer.close()
            raise Closed(f"websocket handshake refused: {status.decode(errors='replace')}")
        return cls(reader, writer)

    def send(self, text: str) -> None:
        if self.closed:
            raise Closed("send on a closed websocket")
        data = text.encode()
        n = len(data)
        head = bytearray([0x81])  # FIN + text
        if n < 126:
            head.append(0x80 | n)
        elif n < 2**16:
            head.append(0x80 | 126)
            head += n.to_bytes(2, "big")
        else:
            head.append(0x80 | 127)
            head += n.to_bytes(8, "big")
        mask = os.urandom(4)
        masked = (int.from_bytes(data, "big") ^ int.from_bytes((mask * (n // 4 + 1))[:n], "big")).to_bytes(n, "big")
        self.writer.write(bytes(head) + mask + masked)

    async def recv(self) -> str:
        """The next text message (pings are answered here); raises Closed."""
        parts: list[bytes] = []
        try:
            while True:
                b0, b1 = await self.reader.readexactly(2)
                n = b1 & 0x7F
                if n == 126:
                    n = int.from_bytes(await self.reader.readexactly(2), "big")
                elif n == 127:
                    n = int.from_bytes(await self.reader.readexactly(8), "big")
                mask = await self.reader.readexactly(4) if b1 & 0x80 else None
                payload = await self.reader.readexactly(n) if n else b""
                if mask:
                    payload = (int.from_bytes(payload, "big") ^ int.from_bytes((mask * (n // 4 + 1))[:n], "big")).to_bytes(n, "big")
                opcode = b0 & 0x0F
                if opcode == 0x8:  # close
                    self.closed = True
                    code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                    raise Closed(f"closed by the server ({code})")
                if opcode == 0x9:  # ping -> pong
                    self._control(0xA, payload)
                    continue
                if opcode == 0xA:
                    continue
                parts.append(payload)
                if b0 & 0x80:  # FIN
                    return b"".join(parts).decode()
        except (asyncio.IncompleteReadError, ConnectionError, OSError) as exc:
            self.closed = True
            raise Closed(f"connection lost: {type(exc).__name__}") from exc

    def _control(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        n = len(payload)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.writer.write(bytes([0x80 | opcode, 0x80 | n]) + mask + masked)

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            try:
                self._control(0x8, (1000).to_bytes(2, "big"))
                await self.writer.drain()
            except (ConnectionError, OSError):
                pass
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass


# ------------------------------------------------------------------ Reflex protocol


@dataclass(frozen=True)
class Protocol:
    """What a compiled frontend knows: from .web/utils/context.jsx, plus the app's route patterns."""

    root: str  # "reflex___state____state"
    state_schema: str
    initial_hashes: list[str]
    cookie_vars: dict[str, str]  # state key (with suffix) -> cookie name
    routes: list[str]  # "/cases/[case_id]" ...
    reflex_version: str

    @property
    def hydrate_and_load(self) -> str:
        return f"{self.root}.hydrate_and_load"

    @property
    def on_load_internal(self) -> str:
        return f"{self.root}.reflex___state____on_load_internal_state.on_load_internal"

    @property
    def barrier(self) -> str:
        return f"{self.root}.reflex___state____on_load_internal_state.set_is_hydrated"

    @property
    def update_vars_internal(self) -> str:
        return f"{self.root}.reflex___state____update_vars_internal_state.update_vars_internal"

    def router_data(self, url: str) -> dict[str, Any]:
        """What withRouterData() puts on an event for the page at ``url`` (path + query)."""
        path, _, search = url.partition("?")
        query: dict[str, str] = {}
        for pair in filter(None, search.split("&")):
            k, _, v = pair.partition("=")
            query[k] = v
        for pattern in sorted(self.routes, key=lambda r: "[" in r):  # static routes win, as in React Router
            regex = "^" + re.sub(r"\\\[(\w+)\\\]", r"(?P<\1>[^/]+)", re.escape(pattern)) + "/?$"
            if m := re.match(regex, path):
                query.update(m.groupdict())
                break
        data: dict[str, Any] = {"pathname": path, "asPath": url}
        if query:
            data["query"] = query
        return data


def load_protocol(web_dir, routes: list[str]) -> Protocol:
    """Read the state schema, initial-state hashes and cookie vars the compiled frontend sends."""
    from pathlib import Path

    text = (Path(web_dir) / "utils" / "context.jsx").read_text()

    def const(name: str) -> Any:
        m = re.search(rf"export const {name} = (.*)", text)
        if not m:
            raise RuntimeError(f"{name} not found in .web/utils/context.jsx: has the Reflex version changed?")
        return json.loads(m.group(1))

    root = const("state_name")
    storage = const("clientStorage")
    reflex_json = json.loads((Path(web_dir) / "reflex.json").read_text())
    return Protocol(root=root, state_schema=const("stateSchema"), initial_hashes=const("initialStateHashes"),
                    cookie_vars={k: v.get("name", k) for k, v in (storage.get("cookies") or {}).items()},
                    routes=routes, reflex_version=reflex_json.get("version", ""))


def known_states(web_dir) -> set[str]:
    """Full names of every state the compiled frontend holds (keys of initialState)."""
    from pathlib import Path

    text = (Path(web_dir) / "utils" / "context.jsx").read_text()
    m = re.search(r"export const initialState = (\{.*?\})\n", text, re.S)
    if not m:
        raise RuntimeError("initialState not found in .web/utils/context.jsx")
    return set(json.loads(m.group(1)))


TOAST = re.compile(r"""__toast['"]?\]?\)?(?:\?\.)?\[?['"]?\.?(\w+)['"]?\]?\)?\(\s*"((?:[^"\\]|\\.)*)""")


@dataclass
class Outcome:
    """What the server said while one action ran."""

    errors: list[str] = field(default_factory=list)
    redirects: list[str] = field(default_factory=list)


@dataclass
class Counts:
    sent: int = 0
    received: int = 0


class Tab:
    """One browser tab: its websocket, client token, current page and local copy of the state."""

    def __init__(self, proto: Protocol, host: str, port: int, error_vars: dict[str, tuple[str, ...]],
                 timeout: float = 10.0) -> None:
        self.proto, self.host, self.port = proto, host, port
        self.error_vars = {state: tuple(v + SUFFIX for v in names) for state, names in error_vars.items()}
        self.timeout = timeout
        self.token = str(uuid.uuid4())
        self.url = "/"
        self.cookies: dict[str, str] = {}  # cookie name -> value (the browser's cookie jar)
        self.store: dict[str, dict[str, Any]] = {}
        self.ws: WebSocket | None = None
        self.reader_task: asyncio.Task | None = None
        self.waiters: list[tuple[Callable[[dict], bool], asyncio.Future]] = []
        self.outcome: Outcome | None = None
        self.counts: Any = Counts()  # websocket messages sent/received (a level shares one)
        self.closed_reason = ""

    # ------------------------------------------------------------- state

    def var(self, state: str, name: str, default: Any = None) -> Any:
        return self.store.get(state, {}).get(name + SUFFIX, default)

    def _storage_vars(self) -> dict[str, str]:
        """hydrateClientStorage(): the cookie vars set in the browser."""
        return {key: self.cookies[name] for key, name in self.proto.cookie_vars.items() if name in self.cookies}

    def _apply(self, update: dict) -> None:
        delta = update.get("delta") or {}
        for state, values in delta.items():
            self.store.setdefault(state, {}).update(values)
        root = delta.get(self.proto.root, {})
        if root.get("is_hydrated" + SUFFIX) is not False:  # applyClientStorageDelta skips unhydrated deltas
            for state, values in delta.items():
                for name, value in values.items():
                    if (cookie := self.proto.cookie_vars.get(f"{state}.{name}")) is not None:
                        if value:
                            self.cookies[cookie] = value
                        else:
                            self.cookies.pop(cookie, None)
        if self.outcome is None:
            return
        for state, names in self.error_vars.items():
            for name in names:
                if delta.get(state, {}).get(name):
                    self.outcome.errors.append(str(delta[state][name])[:120])
        for event in update.get("events") or []:
            name, payload = event.get("name"), event.get("payload") or {}
            if name == "_redirect":
                self.outcome.redirects.append(str(payload.get("path", "")))
            elif name == "_call_function":
                code = str(payload.get("function", ""))
                if (m := TOAST.search(code)) and m.group(1) == "error":
                    self.outcome.errors.append(json.loads(f'"{m.group(2)}"')[:120])

    # ------------------------------------------------------------- socket

    async def open(self, url: str) -> None:
        """A full page load of ``url``: the document, then a new websocket whose CONNECT hydrates."""
        await self.close()
        self.url = url
        self.store.clear()
        await self._get_document(url)
        headers = {"Origin": f"http://localhost:{self.port}", "Sec-WebSocket-Protocol": self.proto.reflex_version,
                   "User-Agent": "bench-load/1"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        self.ws = await WebSocket.connect(self.host, self.port, f"/_event/?token={self.token}&EIO=4&transport=websocket",
                                          headers)
        opened = await self.ws.recv()
        if not opened.startswith("0"):
            raise Closed(f"unexpected engine.io open packet {opened[:80]!r}")
        payload: dict[str, Any] = {}
        if storage := self._storage_vars():
            payload["vars"] = storage
        payload["hashes"] = self.proto.initial_hashes  # a fresh page still holds the compiled defaults
        boot = {"name": self.proto.hydrate_and_load, "payload": payload, "router_data": self.proto.router_data(url)}
        self.ws.send("40/_event," + json.dumps({"event": boot, "state_schema": self.proto.state_schema}))
        self.counts.sent += 1
        self.closed_reason = ""
        self.reader_task = asyncio.create_task(self._read(self.ws), name=f"tab-reader-{self.token[:8]}")

    async def _get_document(self, url: str) -> None:
        """GET the page's HTML like the browser (assets are cached and not fetched)."""
        reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            writer.write(f"GET {url} HTTP/1.1\r\nHost: localhost:{self.port}\r\nConnection: close\r\n"
                         f"User-Agent: bench-load/1\r\nAccept: text/html\r\n\r\n".encode())
            await writer.drain()
            while await reader.read(65536):
                pass
        finally:
            writer.close()

    async def post_form(self, path: str, fields: dict[str, str]) -> str:
        """A native form post (sign-in, sign-out) like the browser's: Origin and cookies sent,
        Set-Cookie applied to this tab's jar; returns the Location it redirects to."""
        body = urlencode(fields).encode()
        cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        head = (f"POST {path} HTTP/1.1\r\nHost: localhost:{self.port}\r\nConnection: close\r\n"
                f"Origin: http://localhost:{self.port}\r\nUser-Agent: bench-load/1\r\n"
                f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n"
                + (f"Cookie: {cookie}\r\n" if cookie else "") + "\r\n")
        reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            writer.write(head.encode() + body)
            await writer.drain()
            raw = b""
            while chunk := await reader.read(65536):
                raw += chunk
        finally:
            writer.close()
        status_line, _, rest = raw.decode("latin-1").partition("\r\n")
        headers, _, _ = rest.partition("\r\n\r\n")
        location = ""
        for line in headers.split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "location":
                location = value.strip()
            elif name.lower() == "set-cookie":
                jar = SimpleCookie()
                jar.load(value.strip())
                for key, morsel in jar.items():
                    if morsel.value and morsel["max-age"] != "0":
                        self.cookies[key] = morsel.value
                    else:
                        self.cookies.pop(key, None)
        if " 303 " not in status_line and " 302 " not in status_line:
            raise Closed(f"form post answered {status_line[:60]!r}")
        return location

    async def sign_in(self, email: str, password: str) -> str:
        """The sign-in page's native form post, as the page sends it: the answer sets the
        HttpOnly session cookie; returns where it redirects (``/login…`` when refused)."""
        return await self.post_form("/api/auth/login", {"email": email, "password": password, "next": "", "tab": self.token})

    @classmethod
    async def signed_in(cls, proto: Protocol, host: str, port: int, email: str, password: str,
                        timeout: float = 30.0) -> "Tab":
        """A new tab that opened the sign-in page, signed in and loaded where it was sent."""
        tab = cls(proto, host, port, {}, timeout)
        await tab.full_load("/login")
        target = await tab.sign_in(email, password)
        if target.startswith("/login"):
            raise SystemExit(f"sign-in refused for {email}: {target}")
        await tab.full_load(target)
        return tab

    async def close(self) -> None:
        if self.reader_task:
            self.reader_task.cancel()
            self.reader_task = None
        if self.ws:
            await self.ws.close()
            self.ws = None
        self._fail_waiters(Closed("tab closed"))

    def _fail_waiters(self, exc: Exception) -> None:
        for _, fut in self.waiters:
            if not fut.done():
                fut.set_exception(exc)
                fut.exception()  # a waiter nobody awaits any more (its action gave up) must not log it
        self.waiters.clear()

    async def _read(self, ws: WebSocket) -> None:
        try:
            while True:
                msg = await ws.recv()
                if msg == "2":  # engine.io ping
                    ws.send("3")
                    continue
                if not msg.startswith("42/_event,"):
                    if msg.startswith("44/_event,"):
                        raise Closed(f"connect refused: {msg[10:200]}")
                    continue
                name, *args = json.loads(msg[10:])
                self.counts.received += 1
                if name == "event" and args:
                    update = args[0]
                    self._apply(update)
                    for pred, fut in list(self.waiters):
                        if not fut.done() and pred(update):
                            fut.set_result(update)
                    self.waiters = [(p, f) for p, f in self.waiters if not f.done()]
                elif name == "new_token" and args:
                    self.token = args[0]
        except Closed as exc:
            self.closed_reason = str(exc)
            self._fail_waiters(exc)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a frame we cannot parse ends this tab like a closed socket
            self.closed_reason = f"reader failed: {exc!r}"
            self._fail_waiters(Closed(self.closed_reason))

    def event(self, name: str, payload: dict | None = None, url: str | None = None) -> None:
        if self.ws is None:
            raise Closed("no websocket")
        ev = {"name": name, "payload": payload or {}, "router_data": self.proto.router_data(url or self.url)}
        self.ws.send("42/_event," + json.dumps(["event", ev]))
        self.counts.sent += 1

    def expect(self, pred: Callable[[dict], bool]) -> asyncio.Future:
        fut = asyncio.get_running_loop().create_future()
        if self.ws is None or self.reader_task is None or self.reader_task.done():
            fut.set_exception(Closed(self.closed_reason or "no websocket"))
        else:
            self.waiters.append((pred, fut))
        return fut

    def _hydrated(self, update: dict) -> bool:
        return (update.get("delta") or {}).get(self.proto.root, {}).get("is_hydrated" + SUFFIX) is True

    # ------------------------------------------------------------- what a page does

    async def full_load(self, url: str) -> None:
        """Reload / new tab: the document, a new websocket with hydrate_and_load; waits for is_hydrated."""
        await self.open(url)
        await asyncio.wait_for(self.expect(self._hydrated), self.timeout)

    async def navigate(self, url: str) -> None:
        """Client-side navigation: update_vars_internal (if a cookie var is set) + on_load_internal."""
        self.url = url
        done = self.expect(self._hydrated)
        if storage := self._storage_vars():
            self.event(self.proto.update_vars_internal, {"vars": storage})
        self.event(self.proto.on_load_internal)
        await asyncio.wait_for(done, self.timeout)

    async def call(self, *events: tuple[str, dict]) -> None:
        """Send the events, then the barrier; returns once the barrier's update arrived."""
        done = self.expect(self._hydrated)
        for name, payload in events:
            self.event(name, payload)
        self.event(self.proto.barrier, {"value": True})
        await asyncio.wait_for(done, self.timeout)

    async def submit(self, *events: tuple[str, dict]) -> str | None:
        """Send the events of a form that ends in rx.redirect: wait for the redirect (or an
        error) and follow it like the browser (client-side navigation). Returns the new url."""
        redirected = self.expect(lambda u: any(e.get("name") == "_redirect" for e in u.get("events") or []))
        failed = self.expect(lambda u: bool(self.outcome and self.outcome.errors))
        for name, payload in events:
            self.event(name, payload)
        finished, pending = await asyncio.wait({redirected, failed}, timeout=self.timeout,
                                               return_when=asyncio.FIRST_COMPLETED)
        for fut in pending:
            fut.cancel()
        if not finished:
            raise asyncio.TimeoutError
        for fut in finished:
            fut.result()  # a closed socket raises here
        if redirected not in finished:
            return None
        target = next(e for e in redirected.result()["events"] if e.get("name") == "_redirect")["payload"]["path"]
        await self.navigate(target)
        return target

