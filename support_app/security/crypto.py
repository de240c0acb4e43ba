"""Customer data at rest: AES-256-GCM under a keyring with key ids, and blind indexes.

Ciphertext is text, so it fits any text column on SQLite and PostgreSQL:

    enc1:<kid>:<base64url(nonce || ciphertext || tag)>      (no padding)

with a random 96-bit nonce per value and the associated data (AAD) naming where the
value lives (``"<table>.<column>"``, or e.g. ``"cache:orders"``): a value copied into
another column, or a whole ciphertext swapped between columns, fails to decrypt.

The keyring (``SUPPORT_DATA_KEYS="kid2:<base64 32 bytes>,kid1:<base64 32 bytes>"``)
encrypts with its first key and decrypts with any of them, so rotation is: put a new
key first, run ``python -m support_app.cli reencrypt``, then remove the old key.

A blind index is ``HMAC-SHA256(blind key, purpose + ":" + normalised value)`` in hex,
cut to 32 characters: equal inputs give equal indexes (exact lookups, unique
constraints, search terms) without storing the value; the purpose keeps the index of
an email apart from the index of the same text as a name word. The blind-index key
(``SUPPORT_BLIND_INDEX_KEY``, base64 of 32 bytes) is separate from the data keys.

In development and test both are generated once into the git-ignored ``data/`` dir
(like the JWT dev secret); production must set them (``crypto_settings_problems``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import threading
import re
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

if TYPE_CHECKING:
    from support_app.settings import Settings

FORMAT = "enc1"
KEY_BYTES = 32
RECENT_VALUES = 20_000  # decrypted values kept (a few MB at most)
NONCE_BYTES = 12
TAG_BYTES = 16
BLIND_INDEX_CHARS = 32
KID_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
DEV_KEYS_FILE = "data_keys"
DEV_BLIND_FILE = "blind_index_key"


class CryptoError(ValueError):
    """A value that cannot be decrypted (unknown key id, wrong place, tampered,
    not our format) or a key that cannot be used. The message never holds the value."""


class CryptoConfigError(CryptoError):
    """The keyring or blind-index key settings are missing or malformed."""


def _key(text: str, what: str) -> bytes:
    b64 = text.strip().replace("-", "+").replace("_", "/")  # standard or url-safe alphabet
    try:
        raw = base64.b64decode(b64 + "=" * (-len(b64) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise CryptoConfigError(f"{what} is not valid base64") from None
    if len(raw) != KEY_BYTES:
        raise CryptoConfigError(f"{what} must be {KEY_BYTES} bytes (base64), got {len(raw)}")
    return raw


class Keyring:
    """Data keys by id; the first one is current (encrypts), every one decrypts."""

    def __init__(self, keys: list[tuple[str, bytes]]) -> None:
        if not keys:
            raise CryptoConfigError("the keyring holds no key")
        self._aead: dict[str, AESGCM] = {}
        self._recent: dict[tuple[str, str], str] = {}
        self._recent_lock = threading.Lock()
        for kid, key in keys:
            if not KID_RE.match(kid):
                raise CryptoConfigError(f"key id {kid!r} must be 1-32 of A-Z a-z 0-9 _ -")
            if kid in self._aead:
                raise CryptoConfigError(f"key id {kid!r} appears twice")
            if len(key) != KEY_BYTES:
                raise CryptoConfigError(f"key {kid!r} must be {KEY_BYTES} bytes")
            self._aead[kid] = AESGCM(key)
        self.current_kid = keys[0][0]
        self.kids = tuple(kid for kid, _ in keys)
        self._current = self._aead[self.current_kid]
        self._prefix = f"{FORMAT}:{self.current_kid}:"

    @classmethod
    def parse(cls, text: str) -> "Keyring":
        """``"kid2:<base64>,kid1:<base64>"`` (the first is current)."""
        keys = []
        for part in text.split(","):
            part = part.strip()
            if not part:
                continue
            kid, sep, b64 = part.partition(":")
            if not sep:
                raise CryptoConfigError("each key must be written kid:<base64 of 32 bytes>")
            keys.append((kid.strip(), _key(b64, f"key {kid.strip()!r}")))
        return cls(keys)

    @property
    def current_prefix(self) -> str:
        """What every value encrypted under the current key starts with."""
        return self._prefix

    def encrypt(self, plaintext: str, aad: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._current.encrypt(nonce, plaintext.encode("utf-8"), aad.encode("utf-8"))
        return self._prefix + base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode("ascii")

    def decrypt(self, token: str, aad: str) -> str:
        """The plaintext; CryptoError if the value does not authenticate. Recently read
        values come from a small bounded cache (a ciphertext is unique to one write, so
        the same token always means the same text): lists re-read on every update would
        otherwise decrypt the same rows again and again."""
        key = (token, aad)
        if (found := self._recent.get(key)) is not None:
            return found
        plain = self._decrypt(token, aad)
        with self._recent_lock:
            if len(self._recent) >= RECENT_VALUES:
                self._recent.pop(next(iter(self._recent)))  # the oldest entry
            self._recent[key] = plain
        return plain

    def _decrypt(self, token: str, aad: str) -> str:
        kid, body = split_token(token)
        aead = self._aead.get(kid)
        if aead is None:
            raise CryptoError(f"value for {aad} is under key id {kid!r}, which is not in the keyring")
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (binascii.Error, ValueError):
            raise CryptoError(f"value for {aad} is not valid base64") from None
        if len(raw) < NONCE_BYTES + TAG_BYTES:
            raise CryptoError(f"value for {aad} is too short to be a ciphertext")
        try:
            return aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad.encode("utf-8")).decode("utf-8")
        except InvalidTag:
            raise CryptoError(f"value for {aad} does not authenticate under key {kid!r} "
                              "(tampered, or it belongs to another column)") from None

    def is_current(self, token: str) -> bool:
        return token.startswith(self._prefix)

    def reencrypt(self, token: str, aad: str) -> str:
        """The value under the current key (unchanged if it already is)."""
        return token if self.is_current(token) else self.encrypt(self.decrypt(token, aad), aad)


def split_token(token: str) -> tuple[str, str]:
    """(key id, base64 body) of a ciphertext; CryptoError if it is not one."""
    if not isinstance(token, str):
        raise CryptoError("ciphertext must be text")
    fmt, sep1, rest = token.partition(":")
    kid, sep2, body = rest.partition(":")
    if fmt != FORMAT or not sep1 or not sep2 or not KID_RE.match(kid):
        raise CryptoError(f"not an {FORMAT} ciphertext")
    return kid, body


class BlindIndex:
    """Keyed, deterministic, one-way: ``index(purpose, normalised value)`` → 32 hex chars."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise CryptoConfigError(f"the blind-index key must be {KEY_BYTES} bytes")
        self._key = key

    @classmethod
    def parse(cls, text: str) -> "BlindIndex":
        return cls(_key(text, "SUPPORT_BLIND_INDEX_KEY"))

    def __call__(self, purpose: str, normalised: str) -> str:
        mac = hmac.digest(self._key, f"{purpose}:{normalised}".encode("utf-8"), hashlib.sha256)
        return mac.hex()[:BLIND_INDEX_CHARS]


def new_key_text() -> str:
    """A fresh random 32-byte key as standard base64 (for settings and dev files)."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode("ascii")


def _dev_file(name: str, make: str) -> str:
    """Read data/<name>, creating it once with ``make`` (0600; a concurrent creator wins)."""
    from support_app.settings import DATA_DIR

    path: Path = DATA_DIR / name
    if not path.exists():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(make)
    return path.read_text().strip()


def crypto_settings_problems(settings: "Settings") -> list[str]:
    """What is wrong with the encryption settings for production (empty: fine).

    Production must set both SUPPORT_DATA_KEYS and SUPPORT_BLIND_INDEX_KEY (never the
    generated development files); each must parse. Other environments may leave them
    empty (generated into data/), but what is set must still parse."""
    problems: list[str] = []
    production = settings.environment == "production"
    for name, value, parse in (("SUPPORT_DATA_KEYS", settings.data_keys, Keyring.parse),
                               ("SUPPORT_BLIND_INDEX_KEY", settings.blind_index_key, BlindIndex.parse)):
        if not value.strip():
            if production:
                problems.append(f"{name} must be set in production")
            continue
        try:
            parse(value)
        except CryptoConfigError as exc:
            problems.append(f"{name}: {exc}")
    return problems


def keyring_from_settings(settings: "Settings") -> Keyring:
    if settings.data_keys.strip():
        return Keyring.parse(settings.data_keys)
    if settings.environment == "production":
        raise CryptoConfigError("SUPPORT_DATA_KEYS must be set in production")
    return Keyring.parse(_dev_file(DEV_KEYS_FILE, f"dev1:{new_key_text()}"))


def blind_index_from_settings(settings: "Settings") -> BlindIndex:
    if settings.blind_index_key.strip():
        return BlindIndex.parse(settings.blind_index_key)
    if settings.environment == "production":
        raise CryptoConfigError("SUPPORT_BLIND_INDEX_KEY must be set in production")
    return BlindIndex.parse(_dev_file(DEV_BLIND_FILE, new_key_text()))


@lru_cache
def get_keyring() -> Keyring:
    from support_app.settings import get_settings

    return keyring_from_settings(get_settings())


@lru_cache
def get_blind_index() -> BlindIndex:
    from support_app.settings import get_settings

    return blind_index_from_settings(get_settings())
