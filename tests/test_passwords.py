"""argon2id hashing through passlib, and the dummy verification for unknown users."""

from __future__ import annotations

import argon2
import pytest
from passlib.context import CryptContext

from support_app.security import passwords


def _params(h: str) -> str:
    """The '$argon2id$v=19$m=...,t=...,p=...' prefix: variant, version and cost."""
    return "$".join(h.split("$")[:4])


@pytest.fixture
def argon2_calls(monkeypatch):
    """Every real argon2 verification, recorded as the hash it ran against."""
    calls: list[str] = []
    real = argon2.low_level.verify_secret

    def counting(hash_, secret, type_):
        calls.append(hash_.decode() if isinstance(hash_, bytes) else hash_)
        return real(hash_, secret, type_)

    monkeypatch.setattr(argon2.low_level, "verify_secret", counting)
    return calls


def test_hash_is_argon2id_salted_and_verifies():
    h1 = passwords.hash_password("correct horse")
    h2 = passwords.hash_password("correct horse")
    assert h1.startswith("$argon2id$v=19$")
    assert h1 != h2  # fresh salt each time
    assert "correct horse" not in h1
    assert passwords.verify_password("correct horse", h1)
    assert not passwords.verify_password("correct horsE", h1)
    assert not passwords.verify_password("", h1)


def test_unicode_password_round_trips():
    h = passwords.hash_password("pässwörd ✓ 密码")
    assert passwords.verify_password("pässwörd ✓ 密码", h)
    assert not passwords.verify_password("passwörd ✓ 密码", h)


@pytest.mark.parametrize("bad", ["", "not-a-hash", "$argon2id$v=19$garbage", "$2b$12$" + "a" * 53])
def test_malformed_hash_is_a_mismatch_not_a_crash(bad):
    assert passwords.verify_password("whatever", bad) is False


def test_cost_is_owasps_first_argon2id_configuration():
    """m=19 MiB, t=2, p=1 is written into every new hash (and so checked at every verify)."""
    assert "$m=19456,t=2,p=1$" in passwords.hash_password("pw-12345")


def test_hash_made_with_the_earlier_default_cost_still_verifies_and_is_upgraded():
    earlier = CryptContext(schemes=["argon2"], argon2__type="ID").hash("pw-12345")  # passlib's m=64 MiB, t=3, p=4
    assert "$m=65536,t=3,p=4$" in earlier
    assert passwords.verify_password("pw-12345", earlier)
    assert passwords.needs_rehash(earlier) is True


def test_needs_rehash_only_for_other_parameters():
    assert passwords.needs_rehash(passwords.hash_password("pw-12345")) is False
    weak = CryptContext(schemes=["argon2"], argon2__type="ID", argon2__memory_cost=1024, argon2__rounds=1)
    old = weak.hash("pw-12345")
    assert passwords.verify_password("pw-12345", old)  # still accepted...
    assert passwords.needs_rehash(old) is True  # ...but flagged for upgrade
    argon2i = CryptContext(schemes=["argon2"], argon2__type="I").hash("pw-12345")
    assert passwords.needs_rehash(argon2i) is True
    assert passwords.needs_rehash("garbage") is True


def test_verify_or_dummy_unknown_user_runs_one_argon2_with_same_cost(argon2_calls):
    real = passwords.hash_password("secret-pw")
    assert passwords.verify_or_dummy("secret-pw", None) is False
    assert passwords.verify_or_dummy("wrong-pw", real) is False
    assert passwords.verify_or_dummy("secret-pw", real) is True
    assert len(argon2_calls) == 3  # exactly one real argon2 run per attempt
    dummy, wrong, right = argon2_calls
    assert dummy == passwords.dummy_hash() and dummy != real
    assert _params(dummy) == _params(real)  # same variant and cost => same work


def test_verify_or_dummy_with_corrupt_hash_still_spends_one_argon2(argon2_calls):
    assert passwords.verify_or_dummy("x" * 10, "corrupt") is False
    assert argon2_calls == [passwords.dummy_hash()]


def test_dummy_never_matches_even_its_own_secret_guess(argon2_calls):
    # No password can sign in an unknown user, whatever the dummy comparison says.
    assert passwords.verify_or_dummy("", None) is False
    assert passwords.dummy_hash() == passwords.dummy_hash()  # computed once per process
