"""Settings: the environment is one of three names, production refuses every unsafe
setting with its own line, and every entry point exits with those lines (status 78).

In-process tests build the settings from a cleaned environment (no SUPPORT_* nor
REFLEX_REDIS_URL from the caller); the entry-point tests run real processes.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import subprocess
import sys

import pytest

from support_app import settings as settings_module
from support_app.settings import ENVIRONMENTS, EXIT_CONFIG, ROOT, Settings, SettingsError, get_settings, load_or_exit

# Fixed values (not secrets.token_urlsafe): parametrized test ids contain them, and
# pytest-xdist workers must collect the same ids.
JWT = hashlib.sha256(b"test jwt key").hexdigest()
WEBHOOK = hashlib.sha256(b"test webhook secret").hexdigest()
GOOD_PRODUCTION = {
    "SUPPORT_ENVIRONMENT": "production",
    "SUPPORT_JWT_KEYS": "k1:" + JWT,
    "SUPPORT_GATEWAY_WEBHOOK_SECRET": WEBHOOK,
    "SUPPORT_REDIS_URL": "redis://redis:6379/0",
    "REFLEX_REDIS_URL": "redis://redis:6379/1",
    "SUPPORT_DATABASE_URL": "postgresql+psycopg://support:pw@db:5432/support",
    "SUPPORT_ORDER_SYSTEM_URL": "https://orders.example.net/api",
    "SUPPORT_PAYMENT_GATEWAY_URL": "https://pay.example.net/v1",
    "SUPPORT_TRUSTED_PROXY_HOPS": "1",
    "SUPPORT_CORS_ORIGINS": "https://support.example.net",
    "SUPPORT_DATA_KEYS": "k2:" + "Ag" * 21 + "A=,k1:" + "AQ" * 21 + "A=",  # two 32-byte keys (base64)
    "SUPPORT_BLIND_INDEX_KEY": "Aw" * 21 + "A=",
}


def _clean(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if not k.startswith("SUPPORT_") and k != "REFLEX_REDIS_URL"}


@pytest.fixture
def environ(monkeypatch):
    """Set variables on a cleaned environment; get_settings() reads them afresh."""
    for key in list(os.environ):
        if key.startswith("SUPPORT_") or key == "REFLEX_REDIS_URL":
            monkeypatch.delenv(key)
    get_settings.cache_clear()

    def apply(values: dict[str, str]) -> None:
        for key, value in values.items():
            monkeypatch.setenv(key, value)
        get_settings.cache_clear()

    yield apply
    get_settings.cache_clear()


def problems_of() -> list[str]:
    with pytest.raises(SettingsError) as err:
        get_settings()
    return err.value.problems


# -- the environment name ------------------------------------------------------


@pytest.mark.parametrize("name", ["prod", "Production", "PRODUCTION", "staging", "dev", " production", ""])
def test_environment_is_exactly_one_of_three(environ, name):
    environ({"SUPPORT_ENVIRONMENT": name})
    [line] = problems_of()
    assert line == f"SUPPORT_ENVIRONMENT must be one of development, test, production (got {name!r})"


def test_an_unknown_environment_gets_no_generated_secrets(environ):
    environ({"SUPPORT_ENVIRONMENT": "prod"})
    s = Settings()
    assert (s.jwt_keys, s.gateway_webhook_secret) == ("", "")


@pytest.mark.parametrize("name", ["development", "test"])
def test_outside_production_secrets_are_generated_and_nothing_else_is_required(environ, name):
    environ({"SUPPORT_ENVIRONMENT": name})
    s = get_settings()
    assert s.jwt_keys.startswith("dev1:") and len(s.jwt_keys) >= 37 and len(s.gateway_webhook_secret) >= 32
    assert s.cors_origins == ["*"] and s.trusted_proxy_hops == 0
    assert ENVIRONMENTS == ("development", "test", "production")


# -- production ------------------------------------------------------------------


def test_production_with_safe_settings_starts(environ):
    environ(GOOD_PRODUCTION)
    s = get_settings()
    assert (s.environment, s.jwt_keys, s.trusted_proxy_hops) == ("production", "k1:" + JWT, 1)
    assert s.cors_origins == ["https://support.example.net"]


def test_production_reports_every_unsafe_setting_together(environ):
    environ({"SUPPORT_ENVIRONMENT": "production"})
    found = problems_of()
    assert [line.split()[0] for line in found] == [
        "SUPPORT_JWT_KEYS", "SUPPORT_GATEWAY_WEBHOOK_SECRET", "SUPPORT_REDIS_URL", "REFLEX_REDIS_URL",
        "SUPPORT_DATABASE_URL", "SUPPORT_ORDER_SYSTEM_URL", "SUPPORT_PAYMENT_GATEWAY_URL",
        "SUPPORT_TRUSTED_PROXY_HOPS", "SUPPORT_CORS_ORIGINS", "SUPPORT_DATA_KEYS", "SUPPORT_BLIND_INDEX_KEY",
    ]
    assert "it is not set" in found[0] and "not sqlite" in found[4] and "site-wide" in found[7]


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("SUPPORT_JWT_KEYS", None, "SUPPORT_JWT_KEYS must list the signing keys as kid:secret"),
        ("SUPPORT_JWT_KEYS", "k1:" + JWT[:31], "SUPPORT_JWT_KEYS key 'k1' must be a random value of at least 32 characters"),
        ("SUPPORT_JWT_KEYS", f"k2:{JWT},k1:{JWT[:31]}", "it has 31 characters"),  # an old key must be real too
        ("SUPPORT_JWT_KEYS", "k1:change-me-" + JWT, "it is a placeholder"),
        ("SUPPORT_JWT_KEYS", "t1:test-secret-" + "x" * 40, "it is a placeholder"),  # tests/conftest.py's
        ("SUPPORT_JWT_KEYS", "k1:" + "a" * 64, "it is a placeholder"),
        ("SUPPORT_JWT_KEYS", JWT, "SUPPORT_JWT_KEYS is malformed"),
        ("SUPPORT_JWT_KEYS", f"k1:{JWT},k1:{WEBHOOK}", "key ids must be unique"),
        ("SUPPORT_GATEWAY_WEBHOOK_SECRET", WEBHOOK[:20], "it has 20 characters"),
        ("SUPPORT_GATEWAY_WEBHOOK_SECRET", "replace-me-with-a-long-random-value-" + WEBHOOK, "it is a placeholder"),
        ("SUPPORT_REDIS_URL", None, "SUPPORT_REDIS_URL must be set in production"),
        ("REFLEX_REDIS_URL", None, "REFLEX_REDIS_URL must be set in production"),
        ("SUPPORT_DATABASE_URL", None, "must be a PostgreSQL URL in production (postgresql+psycopg://…), not sqlite"),
        ("SUPPORT_DATABASE_URL", "mysql://u:hunter2@db/x", "not mysql"),
        ("SUPPORT_DATABASE_URL", "::not a url::", "SUPPORT_DATABASE_URL is not a valid database URL"),
        ("SUPPORT_ORDER_SYSTEM_URL", "http://orders.internal/api", "SUPPORT_ORDER_SYSTEM_URL must be an https:// URL"),
        ("SUPPORT_PAYMENT_GATEWAY_URL", None, "SUPPORT_PAYMENT_GATEWAY_URL must be an https:// URL"),
        ("SUPPORT_TRUSTED_PROXY_HOPS", "0", "SUPPORT_TRUSTED_PROXY_HOPS must be at least 1 in production"),
        ("SUPPORT_CORS_ORIGINS", None, "'*' lets any site use the API"),
        ("SUPPORT_CORS_ORIGINS", "*", "'*' lets any site use the API"),
        ("SUPPORT_CORS_ORIGINS", "https://a.example,*", "'*' lets any site use the API"),
        ("SUPPORT_CORS_ORIGINS", " , ", "it is empty"),
        ("SUPPORT_CORS_ORIGINS", "https://a.example,http://b.example", "no path): http://b.example"),
        ("SUPPORT_CORS_ORIGINS", "https://a.example/", "no path): https://a.example/"),
        ("SUPPORT_DATA_KEYS", None, "SUPPORT_DATA_KEYS must be set in production"),
        ("SUPPORT_DATA_KEYS", "k1:c2hvcnQ=", "SUPPORT_DATA_KEYS: key 'k1' must be 32 bytes"),
        ("SUPPORT_BLIND_INDEX_KEY", None, "SUPPORT_BLIND_INDEX_KEY must be set in production"),
        ("SUPPORT_BLIND_INDEX_KEY", "not base64!", "SUPPORT_BLIND_INDEX_KEY: SUPPORT_BLIND_INDEX_KEY is not valid base64"),
    ],
)
def test_each_unsafe_production_setting_has_its_own_line(environ, monkeypatch, variable, value, expected):
    environ(GOOD_PRODUCTION)
    if value is None:
        monkeypatch.delenv(variable)
    else:
        monkeypatch.setenv(variable, value)
    [line] = problems_of()
    assert line.startswith(variable) and expected in line
    assert "hunter2" not in line  # a database password is never echoed
    if "SECRET" in variable and value:
        assert value not in line


def test_cors_origins_are_a_comma_separated_list(environ):
    environ({**GOOD_PRODUCTION, "SUPPORT_CORS_ORIGINS": " https://a.example , https://b.example:8443 "})
    assert get_settings().cors_origins == ["https://a.example", "https://b.example:8443"]


def test_type_errors_are_lines_too_and_never_echo_the_value(environ):
    environ({"SUPPORT_ENVIRONMENT": "test", "SUPPORT_TRUSTED_PROXY_HOPS": "-1",
             "SUPPORT_ACCESS_TOKEN_MINUTES": "s3cr3t-typed-in-the-wrong-place"})
    found = problems_of()
    assert sorted(line.split(":")[0] for line in found) == ["SUPPORT_ACCESS_TOKEN_MINUTES", "SUPPORT_TRUSTED_PROXY_HOPS"]
    assert not any("s3cr3t" in line for line in found)


# -- load_or_exit ------------------------------------------------------------------


def test_load_or_exit_prints_the_lines_and_exits_78(environ, capsys):
    environ({"SUPPORT_ENVIRONMENT": "production", "SUPPORT_JWT_KEYS": "k1:" + JWT})
    with pytest.raises(SystemExit) as exc:
        load_or_exit()
    assert exc.value.code == EXIT_CONFIG == 78
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "Refusing to start: 10 setting(s) to fix:"
    assert len(err) == 11 and all(line.startswith("  - ") for line in err[1:])
    assert JWT not in "\n".join(err)


@pytest.fixture
def fresh_warning(monkeypatch):
    monkeypatch.setattr(settings_module, "_warned_per_process", False)


def test_several_processes_without_shared_redis_warn_once(environ, fresh_warning, caplog):
    environ({"SUPPORT_ENVIRONMENT": "development", "REFLEX_REDIS_URL": "redis://127.0.0.1:6379/3"})
    with caplog.at_level(logging.WARNING, logger="support_app.settings"):
        load_or_exit()
        load_or_exit()
    [record] = caplog.records
    assert "SUPPORT_REDIS_URL is not" in record.getMessage() and "per process" in record.getMessage()


@pytest.mark.parametrize("extra", [{}, {"REFLEX_REDIS_URL": "redis://r/1", "SUPPORT_REDIS_URL": "redis://r/0"}])
def test_no_warning_with_one_process_or_shared_redis(environ, fresh_warning, caplog, extra):
    environ({"SUPPORT_ENVIRONMENT": "development", **extra})
    with caplog.at_level(logging.WARNING, logger="support_app.settings"):
        load_or_exit()
    assert caplog.records == []


# -- every entry point, as a real process -----------------------------------------


ENTRY_POINTS = {
    "cli": [sys.executable, "-m", "support_app.cli", "migrate"],
    "app import": [sys.executable, "-c", "import support_app.support_app"],
    "rxconfig (reflex run / export)": [sys.executable, "-c", "from reflex_base.config import get_config; get_config()"],
}


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_every_entry_point_refuses_unsafe_production_settings(entry, tmp_path):
    env = {**_clean(dict(os.environ)), "SUPPORT_ENVIRONMENT": "production",
           "SUPPORT_DATABASE_URL": f"sqlite:///{tmp_path / 'never-created.db'}",
           "REFLEX_TELEMETRY_ENABLED": "false", "REFLEX_CHECK_LATEST_VERSION": "0"}
    done = subprocess.run(ENTRY_POINTS[entry], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == EXIT_CONFIG, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[0] == "Refusing to start: 11 setting(s) to fix:"
    assert lines[1].startswith("  - SUPPORT_JWT_KEYS must") and lines[-1].startswith("  - SUPPORT_BLIND_INDEX_KEY")
    assert not (tmp_path / "never-created.db").exists()


def test_entry_point_names_a_wrong_environment(tmp_path):
    env = {**_clean(dict(os.environ)), "SUPPORT_ENVIRONMENT": "prod"}
    done = subprocess.run(ENTRY_POINTS["cli"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == EXIT_CONFIG
    assert "SUPPORT_ENVIRONMENT must be one of development, test, production (got 'prod')" in done.stderr
