"""One Settings object for the whole app; every knob is an environment variable.

Variables are prefixed ``SUPPORT_`` (e.g. ``SUPPORT_DATABASE_URL``) and may also be
put in a ``.env`` file at the repository root. The README lists them all with defaults.

Every entry point (rxconfig.py for the Reflex app, ``python -m support_app.cli``, the
worker, the sandbox) starts with ``load_or_exit()``: invalid settings, and in
production every unsafe one, are reported together as plain lines and the process
exits with status 78 (EX_CONFIG) before it serves or changes anything.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import sys
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "data"
ENVIRONMENTS = ("development", "test", "production")
EXIT_CONFIG = 78  # sysexits.h EX_CONFIG: a supervisor should not restart-loop on it
MIN_SECRET_LENGTH = 32
# Values seen in examples and tests; refused in production whatever their length.
PLACEHOLDER_MARKERS = ("change-me", "change_me", "changeme", "replace-me", "replace_me", "placeholder", "example")
MIN_DISTINCT_SECRET_CHARS = 10
JWT_KID = re.compile(r"[A-Za-z0-9_-]{1,32}")  # "x" * 40 or "test-secret-xxxx…" is not a secret


def _dev_secret(name: str = "jwt_secret") -> str:
    """A development secret generated once and kept in the git-ignored data dir."""
    path = DATA_DIR / name
    if path.exists():
        return path.read_text().strip()
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value


def _secret_problem(variable: str, value: str) -> str | None:
    """Why ``value`` is not a production secret, or None. Never echoes the value."""
    lowered = value.strip().lower()
    if not lowered:
        why = "it is not set"
    elif len(value) < MIN_SECRET_LENGTH:
        why = f"it has {len(value)} characters"
    elif any(marker in lowered for marker in PLACEHOLDER_MARKERS) or len(set(value)) < MIN_DISTINCT_SECRET_CHARS:
        why = "it is a placeholder"
    else:
        return None
    return (f"{variable} must be a random value of at least {MIN_SECRET_LENGTH} characters "
            f"(e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))'); {why}")


def _origin_problem(origins: list[str]) -> str | None:
    if not origins:
        why = "it is empty"
    elif "*" in origins:
        why = "'*' lets any site use the API with the user's cookies"
    elif bad := [o for o in origins if not _is_https_origin(o)]:
        why = f"not an https origin (https://host[:port], no path): {', '.join(bad)}"
    else:
        return None
    return f"SUPPORT_CORS_ORIGINS must list the site's https origins, comma-separated; {why}"


def _is_https_origin(origin: str) -> bool:
    parts = urlsplit(origin)
    return parts.scheme == "https" and bool(parts.hostname) and parts.path == "" and not parts.query


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SUPPORT_", env_file=ROOT / ".env", extra="ignore"
    )

    environment: str = Field("development", description="exactly one of ENVIRONMENTS")
    database_url: str = f"sqlite:///{DATA_DIR / 'support.db'}"
    redis_url: str | None = None
    redis_prefix: str = "support:"
    # JWT signing keys "kid:secret,kid:secret": the first signs, all verify. Rotate by
    # putting a new key first and keeping the old one until its tokens have expired.
    jwt_keys: str = ""
    jwt_issuer: str = "support-app"
    jwt_audience: str = "support-app-web"
    access_token_minutes: int = 15
    refresh_token_days: int = 14
    # A sign-in's absolute lifetime; rotating tokens never extends it.
    session_hours_agent: int = Field(12, ge=1)
    session_days_customer: int = Field(30, ge=1)
    # The same refresh token presented again this soon (two tabs opening at once, a
    # retried event) gets a new chain instead of being taken for theft.
    refresh_grace_seconds: int = Field(10, ge=0, le=60)
    order_system_url: str = "http://127.0.0.1:3001/orders"
    order_timeout_seconds: float = 3.0
    order_cache_seconds: int = 30
    payment_gateway_url: str = "http://127.0.0.1:3001/gateway"
    gateway_timeout_seconds: float = 5.0
    gateway_webhook_secret: str = ""
    # The durable sender of gateway attempts (support_app/worker): one per worker
    # process and, with embedded_worker, one inside every app process.
    worker_pool_size: int = Field(8, ge=1, le=256, description="concurrent gateway calls per worker")
    worker_lease_seconds: float = Field(60.0, gt=0, description="how long a claim on an attempt lasts")
    worker_poll_seconds: float = Field(2.0, gt=0, description="fallback when no wake-up arrives")
    worker_batch: int = Field(20, ge=1, le=1000, description="attempts claimed per round at most")
    embedded_worker: bool = True
    refund_window_days: int = 14
    reopen_days: int = Field(14, ge=0, le=3650, description="days after resolving or closing a case that it may be reopened")
    # Sign-in throttling counts failures: per account from one client, per client, and
    # per account from anywhere (which slows the account down rather than locking it).
    login_max_failures: int = Field(5, ge=1)
    login_client_max_failures: int = Field(30, ge=1)
    login_window_seconds: int = Field(900, ge=1)
    login_account_free_failures: int = Field(10, ge=1)
    login_account_max_delay_seconds: int = Field(300, ge=1)
    case_create_max: int = 10
    case_create_window_seconds: int = 3600
    # Reflex backend workers per app process when page state is in Redis (GRANIAN_WORKERS).
    web_workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1, le=32)
    # Threads running service calls for one app process (database work, order lookups).
    service_threads: int = Field(8, ge=1, le=64)
    # PostgreSQL connections per process (service threads + worker pool + overflow below).
    db_pool_size: int = Field(10, ge=1)
    db_max_overflow: int = Field(10, ge=0)
    # Reverse proxies in front of the app (1 for nginx alone): the client address is
    # the hops-th X-Forwarded-For entry from the right. 0 ignores the header.
    trusted_proxy_hops: int = Field(0, ge=0)
    # Origins allowed to call the backend (CORS), comma-separated; "*" only outside production.
    cors_origins: Annotated[list[str], NoDecode] = ["*"]

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value
    # Customer data at rest (security/crypto.py): "kid2:<base64 32 bytes>,kid1:<...>", the
    # first key encrypts, all decrypt; and the blind-index HMAC key (base64 of 32 bytes).
    # Empty outside production: generated once into data/ (data_keys, blind_index_key).
    data_keys: str = ""
    blind_index_key: str = ""

    @model_validator(mode="after")
    def _dev_secrets(self) -> "Settings":
        # Only a known non-production environment gets generated secrets; a typo such
        # as "prod" must not start quietly with them (problems() refuses it instead).
        if self.environment in ("development", "test"):
            self.jwt_keys = self.jwt_keys or "dev1:" + _dev_secret()
            self.gateway_webhook_secret = self.gateway_webhook_secret or _dev_secret("gateway_webhook_secret")
        return self

    def problems(self, environ: Mapping[str, str] = os.environ) -> list[str]:
        """Every reason these settings must not start, one readable line each."""
        if self.environment not in ENVIRONMENTS:
            return [f"SUPPORT_ENVIRONMENT must be one of {', '.join(ENVIRONMENTS)} (got {self.environment!r})"]
        if self.environment != "production":
            return _jwt_keys_problems(self.jwt_keys, check_secrets=False)
        found = [
            *_jwt_keys_problems(self.jwt_keys),
            _secret_problem("SUPPORT_GATEWAY_WEBHOOK_SECRET", self.gateway_webhook_secret),
        ]
        if not self.redis_url:
            found.append("SUPPORT_REDIS_URL must be set in production: rate limits, token revocation and "
                         "the order cache must be shared by every process")
        # Reflex reads its own variable from the process environment only (not .env).
        if not environ.get("REFLEX_REDIS_URL"):
            found.append("REFLEX_REDIS_URL must be set in production: Reflex keeps page state in Redis so "
                         "that several workers and replicas can serve the same sessions")
        found.append(_database_problem(self.database_url))
        for variable, url in (("SUPPORT_ORDER_SYSTEM_URL", self.order_system_url),
                              ("SUPPORT_PAYMENT_GATEWAY_URL", self.payment_gateway_url)):
            if urlsplit(url).scheme != "https":
                found.append(f"{variable} must be an https:// URL in production")
        if self.trusted_proxy_hops < 1:
            found.append("SUPPORT_TRUSTED_PROXY_HOPS must be at least 1 in production (the number of reverse "
                         "proxies in front of the app, 1 for nginx alone); with 0 every user has the balancer's "
                         "address and the per-client sign-in limit becomes site-wide")
        found.append(_origin_problem(self.cors_origins))
        from support_app.security.crypto import crypto_settings_problems

        found.extend(crypto_settings_problems(self))  # SUPPORT_DATA_KEYS, SUPPORT_BLIND_INDEX_KEY
        return [line for line in found if line]


def parse_jwt_keys(value: str) -> list[tuple[str, str]]:
    """``"kid:secret,kid:secret"`` as (kid, secret) pairs in order; ValueError if malformed."""
    pairs = []
    for item in value.split(","):
        kid, sep, secret = item.strip().partition(":")
        if not sep or not JWT_KID.fullmatch(kid) or not secret:
            raise ValueError("each key is kid:secret, the kid 1-32 letters, digits, - or _")
        pairs.append((kid, secret))
    if len({kid for kid, _ in pairs}) != len(pairs):
        raise ValueError("key ids must be unique")
    return pairs


def _jwt_keys_problems(value: str, check_secrets: bool = True) -> list[str]:
    if not value.strip():
        return ["SUPPORT_JWT_KEYS must list the signing keys as kid:secret[,kid:secret...]; it is not set"]
    try:
        pairs = parse_jwt_keys(value)
    except ValueError as err:
        return [f"SUPPORT_JWT_KEYS is malformed: {err}"]
    if not check_secrets:
        return []
    return [line for kid, secret in pairs if (line := _secret_problem(f"SUPPORT_JWT_KEYS key {kid!r}", secret))]


def _database_problem(url: str) -> str | None:
    try:
        backend = make_url(url).get_backend_name()
    except Exception:  # noqa: BLE001 — any unparsable URL; never echo it (it may hold a password)
        return "SUPPORT_DATABASE_URL is not a valid database URL"
    if backend != "postgresql":
        return f"SUPPORT_DATABASE_URL must be a PostgreSQL URL in production (postgresql+psycopg://…), not {backend}"
    return None


class SettingsError(Exception):
    """The settings cannot start the app; ``problems`` holds one line per reason."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems

    def report(self) -> str:
        lines = "\n".join(f"  - {line}" for line in self.problems)
        return f"Refusing to start: {len(self.problems)} setting(s) to fix:\n{lines}"


@lru_cache
def get_settings() -> Settings:
    """The settings, or SettingsError listing every problem (pydantic's included)."""
    try:
        settings = Settings()
    except ValidationError as err:
        raise SettingsError([_readable(e) for e in err.errors()]) from None
    if found := settings.problems():
        raise SettingsError(found)
    return settings


def _readable(error: Mapping) -> str:
    field = ".".join(str(part) for part in error["loc"]) or "settings"
    return f"SUPPORT_{field.upper()}: {error['msg']}"  # no input echoed: it may be a secret


_warned_per_process = False


def load_or_exit() -> Settings:
    """Start-up check for every entry point: the settings, or the problems printed to
    stderr as plain lines and exit status EXIT_CONFIG."""
    global _warned_per_process
    try:
        settings = get_settings()
    except SettingsError as err:
        print(err.report(), file=sys.stderr, flush=True)
        raise SystemExit(EXIT_CONFIG) from None
    if os.environ.get("REFLEX_REDIS_URL") and not settings.redis_url and not _warned_per_process:
        _warned_per_process = True
        log.warning(
            "REFLEX_REDIS_URL is set, so several processes will serve the app, but SUPPORT_REDIS_URL is not: "
            "sign-in rate limits, token revocation and the order cache are per process. Set SUPPORT_REDIS_URL."
        )
    return settings
