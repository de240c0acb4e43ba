"""One Settings object for the whole app; every knob is an environment variable.

Variables are prefixed ``SUPPORT_`` (e.g. ``SUPPORT_DATABASE_URL``) and may also be
put in a ``.env`` file at the repository root. The README lists them all with defaults.
"""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "data"
INSECURE_SECRETS = {"", "change-me", "changeme", "secret", "dev"}


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


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SUPPORT_", env_file=ROOT / ".env", extra="ignore"
    )

    environment: str = Field("development", description="development | test | production")
    database_url: str = f"sqlite:///{DATA_DIR / 'support.db'}"
    redis_url: str | None = None
    redis_prefix: str = "support:"
    jwt_secret: str = ""
    jwt_issuer: str = "support-app"
    jwt_audience: str = "support-app-web"
    access_token_minutes: int = 15
    refresh_token_days: int = 14
    order_system_url: str = "http://127.0.0.1:3000/sandbox/orders"
    order_timeout_seconds: float = 3.0
    order_cache_seconds: int = 30
    payment_gateway_url: str = "http://127.0.0.1:3000/sandbox/gateway"
    gateway_timeout_seconds: float = 5.0
    gateway_webhook_secret: str = ""
    # Where the built-in gateway sandbox delivers its webhooks (this app's endpoint).
    gateway_webhook_url: str = "http://127.0.0.1:3000/api/gateway/webhook"
    # The durable sender of gateway attempts (support_app/worker): one per worker
    # process and, with embedded_worker, one inside every app process.
    worker_pool_size: int = Field(8, ge=1, le=256, description="concurrent gateway calls per worker")
    worker_lease_seconds: float = Field(60.0, gt=0, description="how long a claim on an attempt lasts")
    worker_poll_seconds: float = Field(2.0, gt=0, description="fallback when no wake-up arrives")
    worker_batch: int = Field(20, ge=1, le=1000, description="attempts claimed per round at most")
    embedded_worker: bool = True
    refund_window_days: int = 14
    sandbox_enabled: bool = True
    sandbox_faults_enabled: bool = True
    login_max_attempts: int = 5
    login_client_max_attempts: int = 30
    login_window_seconds: int = 300
    case_create_max: int = 10
    case_create_window_seconds: int = 3600

    @model_validator(mode="after")
    def _check_secret(self) -> "Settings":
        if self.environment == "production":
            if self.jwt_secret.strip().lower() in INSECURE_SECRETS or len(self.jwt_secret) < 32:
                raise ValueError(
                    "SUPPORT_JWT_SECRET must be set to a random value of at least 32 characters in production"
                )
            if len(self.gateway_webhook_secret) < 16:
                raise ValueError("SUPPORT_GATEWAY_WEBHOOK_SECRET must be set in production")
        else:
            self.jwt_secret = self.jwt_secret or _dev_secret()
            self.gateway_webhook_secret = self.gateway_webhook_secret or _dev_secret("gateway_webhook_secret")
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
