"""Keyrings for tests: point SUPPORT_DATA_KEYS at chosen keys for one test (the cached
settings and keyring are cleared before and after, so the app really reads them)."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator

import pytest

from support_app.security.crypto import get_blind_index, get_keyring
from support_app.settings import get_settings


def key_text(byte: int) -> str:
    return base64.b64encode(bytes([byte]) * 32).decode()


def _clear() -> None:
    get_settings.cache_clear()
    get_keyring.cache_clear()
    get_blind_index.cache_clear()


@pytest.fixture
def use_keys(monkeypatch) -> Iterator[Callable[[str], None]]:
    """``use_keys("new:<b64>,old:<b64>")`` makes that the app's keyring from now on."""
    def use(keys: str) -> None:
        monkeypatch.setenv("SUPPORT_DATA_KEYS", keys)
        _clear()

    yield use
    monkeypatch.delenv("SUPPORT_DATA_KEYS", raising=False)
    _clear()
