"""Password hashing: argon2id through passlib's CryptContext (the ``libpass`` fork).

Why a CryptContext rather than argon2-cffi directly: it records the parameters in
each hash and tells us when a stored hash was made with weaker ones
(``needs_rehash``), so raising the cost later upgrades users as they sign in.
"""

from __future__ import annotations

import secrets
from functools import lru_cache

from passlib.context import CryptContext

# argon2 "ID" = argon2id, the variant RFC 9106 recommends for passwords, with the cost
# OWASP's Password Storage Cheat Sheet names as its first configuration: m=19 MiB,
# t=2, p=1 (~30 ms of one core here). passlib's defaults (m=64 MiB, t=3, p=4) cost
# ~230 ms of CPU per sign-in: at a shift start 10 sign-ins a second asked 2.5 cores of
# this 2-core machine and sign-ins took 5-8 s (bench/load.py warm-up). Hashes made with
# the old cost are still accepted and re-hashed at the next sign-in (needs_rehash).
# Tests use this real cost too.
ARGON2_COST = {"memory_cost": 19456, "rounds": 2, "parallelism": 1}
_context = CryptContext(schemes=["argon2"], deprecated="auto", argon2__type="ID",
                        **{f"argon2__{name}": value for name, value in ARGON2_COST.items()})


def hash_password(password: str) -> str:
    """Return an ``$argon2id$...`` hash with a fresh random salt."""
    return _context.hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    """True when ``password`` matches. A malformed or foreign hash is a mismatch,
    not a crash, so one corrupt row cannot take the sign-in page down."""
    try:
        return bool(_context.verify(password, password_hash))
    except (ValueError, TypeError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with other parameters than the current ones."""
    try:
        return bool(_context.needs_update(password_hash))
    except (ValueError, TypeError):
        return True


@lru_cache(maxsize=1)
def dummy_hash() -> str:
    """A hash of a random secret nobody knows, made once per process with the
    current parameters, so verifying against it costs exactly what a real user's
    verification costs (a literal baked into the source would drift from them)."""
    return _context.hash(secrets.token_urlsafe(32))


def verify_or_dummy(password: str, password_hash: str | None) -> bool:
    """Verify against ``password_hash``, or against the dummy when the user is unknown.

    Every sign-in attempt therefore runs exactly one argon2 verification, so the
    response time does not reveal whether an email has an account. With no real
    hash the answer is always False, whatever the dummy comparison says.
    """
    if password_hash is None:
        verify_password(password, dummy_hash())
        return False
    try:
        _context.identify(password_hash, required=True)
    except (ValueError, TypeError):
        verify_password(password, dummy_hash())
        return False
    return verify_password(password, password_hash)
