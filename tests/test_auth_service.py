"""Auth use cases against a real SQLite file and a real (or in-memory) KV.

Each call runs in its own ``session_scope`` as in the app, so commit-before-raise is real.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import argon2
import pytest
from sqlmodel import select

from support_app.db import session_scope
from support_app.domain.errors import DomainError, ErrorCode
from support_app.kv import MemoryKV, RedisKV
from support_app.models.user import RefreshToken, User
from support_app.security import passwords, ratelimit, tokens
from support_app.services import auth_service as auth
from support_app.settings import get_settings

PW = "correct horse battery"




def run(engine, fn, *args, **kw):
    with session_scope(engine, write=True) as s:
        return fn(s, *args, **kw)


def code_of(engine, fn, *args, **kw) -> ErrorCode:
    with pytest.raises(DomainError) as err:
        run(engine, fn, *args, **kw)
    return err.value.code


def rows(engine, family_id: str) -> list[RefreshToken]:
    with session_scope(engine) as s:
        return list(s.exec(select(RefreshToken).where(RefreshToken.family_id == family_id)).all())


@pytest.fixture
def alice(engine):
    return run(engine, auth.create_user, " Alice@Example.COM ", "Alice A", "customer", PW, order_customer_id="C-1")


@pytest.fixture
def argon2_calls(monkeypatch):
    calls: list[bytes] = []
    real = argon2.low_level.verify_secret

    def counting(hash_, secret, type_):
        calls.append(hash_)
        return real(hash_, secret, type_)

    monkeypatch.setattr(argon2.low_level, "verify_secret", counting)
    return calls


def test_create_user_normalises_and_hashes(engine, alice):
    assert alice.email == "alice@example.com" and alice.role == "customer"
    with session_scope(engine) as s:
        stored = s.get(User, alice.id)
    assert stored.password_hash.startswith("$argon2id$") and PW not in stored.password_hash
    assert stored.order_customer_id == "C-1" and stored.is_active


def test_duplicate_email_is_taken_case_insensitively(engine, alice):
    assert code_of(engine, auth.create_user, "ALICE@example.com", "X", "agent", PW) == ErrorCode.EMAIL_TAKEN
    with session_scope(engine) as s:
        assert len(s.exec(select(User)).all()) == 1


@pytest.mark.parametrize(
    "args, field",
    [(("not-an-email", "N", "agent", PW), "email"), (("a b@x.io", "N", "agent", PW), "email"),
     (("a@x.io", "  ", "agent", PW), "full_name"), (("a@x.io", "N", "admin", PW), "role"),
     (("a@x.io", "N", "agent", "short7!"), "password"), (("a@x.io", "N", "customer", PW), "order_customer_id"),
     (("a@x.io", "N", "agent", PW, "C-9"), "order_customer_id")],
)
def test_create_user_validation(engine, args, field):
    with pytest.raises(DomainError) as err:
        run(engine, auth.create_user, *args)
    assert err.value.code == ErrorCode.VALIDATION_FAILED and field in err.value.fields
    assert run(engine, auth.create_user, "ok@x.io", "Agent", "agent", "12345678").role == "agent"  # 8 chars is enough


def test_sign_in_issues_tokens_and_identify_works(engine, alice, kv):
    res = run(engine, auth.sign_in, "ALICE@example.com ", PW, "c1", kv=kv)
    assert res.user == alice
    assert run(engine, auth.identify, res.access_token, kv=kv) == alice
    rc = tokens.decode_refresh(res.refresh_token)
    tab = tokens.decode_refresh(res.tab_refresh_token)
    assert tab.family_id == rc.family_id and tab.jti != rc.jti
    family = rows(engine, rc.family_id)
    assert {r.jti for r in family} == {rc.jti, tab.jti}
    assert all(r.user_id == alice.id and r.used_at is None for r in family)
    assert tokens.decode_access(res.access_token, kv=kv).family_id == rc.family_id


def test_tab_and_cookie_chains_rotate_independently_but_reuse_burns_both(engine, alice, kv):
    """A browser keeps one chain in its cookie and one per tab: rotating one never
    spends the other, while replaying any spent token revokes the whole sign-in."""
    res = run(engine, auth.sign_in, "alice@example.com", PW, "c1", kv=kv)
    tab2 = run(engine, auth.refresh, res.refresh_token, fork=True, kv=kv)  # a second tab opens
    assert tab2.tab_refresh_token and tab2.refresh_token != res.refresh_token
    tab1_next = run(engine, auth.refresh, res.tab_refresh_token, kv=kv)  # tab 1 keeps rotating
    tab2_next = run(engine, auth.refresh, tab2.tab_refresh_token, kv=kv)
    assert tab1_next.user == tab2_next.user == alice
    assert code_of(engine, auth.refresh, res.tab_refresh_token, kv=kv) == ErrorCode.TOKEN_REUSED
    for token in (tab1_next.refresh_token, tab2_next.refresh_token, tab2.refresh_token):
        assert code_of(engine, auth.refresh, token, kv=kv) == ErrorCode.TOKEN_REVOKED


def test_unknown_user_and_wrong_password_look_identical(engine, alice, argon2_calls):
    kv = MemoryKV()
    errors = []
    for email, pw, client in [("nobody@example.com", PW, "c1"), ("alice@example.com", "wrong-password", "c2")]:
        with pytest.raises(DomainError) as err:
            run(engine, auth.sign_in, email, pw, client, kv=kv)
        errors.append((err.value.code, err.value.message, err.value.fields))
    assert errors[0] == errors[1] and errors[0][0] == ErrorCode.INVALID_CREDENTIALS
    # One real argon2 verification each, against hashes of the same cost.
    unknown_hash, alice_hash = argon2_calls
    assert unknown_hash.decode() == passwords.dummy_hash()
    assert unknown_hash.split(b"$")[:4] == alice_hash.split(b"$")[:4]


def test_inactive_user_cannot_sign_in(engine, alice, argon2_calls):
    with session_scope(engine, write=True) as s:
        s.get(User, alice.id).is_active = False
    assert code_of(engine, auth.sign_in, "alice@example.com", PW, "c1", kv=MemoryKV()) == ErrorCode.INVALID_CREDENTIALS
    assert len(argon2_calls) == 1


def test_rate_limit_is_checked_before_the_password(engine, alice, kv, argon2_calls):
    limit = get_settings().login_max_attempts
    for i in range(limit):
        assert code_of(engine, auth.sign_in, "alice@example.com", "nope-nope", f"c{i}", kv=kv) == ErrorCode.INVALID_CREDENTIALS
    assert len(argon2_calls) == limit
    # Even the right password is refused now, and no argon2 work is done for it.
    assert code_of(engine, auth.sign_in, "alice@example.com", PW, "fresh-client", kv=kv) == ErrorCode.RATE_LIMITED
    assert len(argon2_calls) == limit


def test_rate_limit_per_client(engine, alice, kv, monkeypatch):
    monkeypatch.setattr(get_settings(), "login_client_max_attempts", 8)  # each attempt is a real argon2 check
    limit = get_settings().login_client_max_attempts
    for i in range(limit):
        code_of(engine, auth.sign_in, f"ghost{i}@example.com", PW, "1.2.3.4", kv=kv)
    assert code_of(engine, auth.sign_in, "alice@example.com", PW, "1.2.3.4", kv=kv) == ErrorCode.RATE_LIMITED
    code_of(engine, auth.sign_in, "alice@example.com", "typo-typo", "5.6.7.8", kv=kv)
    run(engine, auth.sign_in, "alice@example.com", PW, "5.6.7.8", kv=kv)
    assert ratelimit.login_limiters(kv)[0].count("alice@example.com") == 0  # success resets the account


def test_outdated_hash_is_upgraded_on_sign_in(engine, alice):
    from passlib.context import CryptContext

    weak = CryptContext(schemes=["argon2"], argon2__type="ID", argon2__memory_cost=1024, argon2__rounds=1)
    with session_scope(engine, write=True) as s:
        s.get(User, alice.id).password_hash = weak.hash(PW)
    run(engine, auth.sign_in, "alice@example.com", PW, "c1", kv=MemoryKV())
    with session_scope(engine) as s:
        new_hash = s.get(User, alice.id).password_hash
    assert not passwords.needs_rehash(new_hash) and passwords.verify_password(PW, new_hash)


def test_refresh_rotates_within_the_family(engine, alice, kv):
    first = run(engine, auth.sign_in, "alice@example.com", PW, "c1", kv=kv)
    second = run(engine, auth.refresh, first.refresh_token, kv=kv)
    third = run(engine, auth.refresh, second.refresh_token, kv=kv)
    fam = tokens.decode_refresh(first.refresh_token).family_id
    assert {tokens.decode_refresh(t.refresh_token).family_id for t in (second, third)} == {fam}
    by_jti = {r.jti: r for r in rows(engine, fam)}
    assert len(by_jti) == 4  # three distinct cookie-chain tokens and the tab token, one row each
    assert by_jti[tokens.decode_refresh(first.refresh_token).jti].used_at is not None
    assert by_jti[tokens.decode_refresh(third.refresh_token).jti].used_at is None
    assert run(engine, auth.identify, third.access_token, kv=kv) == alice


def test_reuse_revokes_the_whole_family(engine, alice, kv):
    first = run(engine, auth.sign_in, "alice@example.com", PW, "c1", kv=kv)
    other_session = run(engine, auth.sign_in, "alice@example.com", PW, "c2", kv=kv)
    second = run(engine, auth.refresh, first.refresh_token, kv=kv)
    # The old token shows up again: one of its two holders is a thief.
    assert code_of(engine, auth.refresh, first.refresh_token, kv=kv) == ErrorCode.TOKEN_REUSED
    fam = tokens.decode_refresh(first.refresh_token).family_id
    assert all(r.revoked_at is not None for r in rows(engine, fam))  # committed despite the error
    # The token the thief (or user) got from the rotation is dead too, and so is its access token.
    assert code_of(engine, auth.refresh, second.refresh_token, kv=kv) == ErrorCode.TOKEN_REVOKED
    assert code_of(engine, auth.identify, second.access_token, kv=kv) == ErrorCode.TOKEN_REVOKED
    # Another sign-in of the same person is untouched.
    assert run(engine, auth.identify, other_session.access_token, kv=kv) == alice
    run(engine, auth.refresh, other_session.refresh_token, kv=kv)


def test_spend_is_decided_by_the_conditional_update(engine, alice):
    """Simulate a concurrent refresh committing between our read and our UPDATE
    (what READ COMMITTED on PostgreSQL allows): the row count must decide."""
    kv = MemoryKV()
    first = run(engine, auth.sign_in, "alice@example.com", PW, "c1", kv=kv)
    jti = tokens.decode_refresh(first.refresh_token).jti
    with pytest.raises(DomainError) as err:
        with session_scope(engine, write=True) as s:
            real_get = s.get

            def get_then_race(model, ident, **kw):
                obj = real_get(model, ident, **kw)
                if model is User:  # loaded after the token row was read as unused
                    s.execute(RefreshToken.__table__.update().where(RefreshToken.jti == jti)
                              .values(used_at=datetime.now(timezone.utc)))
                return obj

            s.get = get_then_race
            auth.refresh(s, first.refresh_token, kv=kv)
    assert err.value.code == ErrorCode.TOKEN_REUSED
    assert len(rows(engine, tokens.decode_refresh(first.refresh_token).family_id)) == 2  # nothing issued beyond the sign-in pair


def test_concurrent_refresh_with_one_token_succeeds_once(engine, alice, kv):
    first = run(engine, auth.sign_in, "alice@example.com", PW, "c1", kv=kv)
    n = 8
    barrier = threading.Barrier(n)
    results: list[object] = []
    lock = threading.Lock()

    def worker() -> None:
        barrier.wait()
        try:
            out: object = run(engine, auth.refresh, first.refresh_token, kv=kv)  # own session per thread
        except Exception as exc:  # noqa: BLE001 - DomainError or not, surfaced by the asserts
            out = exc.code if isinstance(exc, DomainError) else exc
        with lock:
            results.append(out)

    threads = [threading.Thread(target=worker) for _ in range(n)]
    [t.start() for t in threads], [t.join() for t in threads]
    wins = [r for r in results if isinstance(r, auth.AuthResult)]
    assert len(wins) == 1, results
    losers = [r for r in results if not isinstance(r, auth.AuthResult)]
    assert losers == [ErrorCode.TOKEN_REUSED] * (n - 1), results
    fam_rows = rows(engine, tokens.decode_refresh(first.refresh_token).family_id)
    assert len(fam_rows) == 3  # the sign-in pair and exactly one successor
    assert sum(r.used_at is not None for r in fam_rows) == 1
    # The losers saw reuse, so the family (winner's new pair included) is revoked.
    assert all(r.revoked_at is not None for r in fam_rows)
    assert code_of(engine, auth.identify, wins[0].access_token, kv=kv) == ErrorCode.TOKEN_REVOKED


def test_refresh_errors(engine, alice):
    kv = MemoryKV()
    res = run(engine, auth.sign_in, "alice@example.com", PW, "c1", kv=kv)
    rc = tokens.decode_refresh(res.refresh_token)
    later = rc.expires_at + timedelta(minutes=1)
    assert code_of(engine, auth.refresh, res.refresh_token, kv=kv, now=later) == ErrorCode.TOKEN_EXPIRED
    unknown, _ = tokens.create_refresh_token(alice.id, rc.family_id)  # validly signed, no row
    assert code_of(engine, auth.refresh, unknown, kv=kv) == ErrorCode.TOKEN_INVALID
    head, body, sig = res.refresh_token.split(".")
    assert code_of(engine, auth.refresh, f"{head}.{body}.{sig[::-1]}", kv=kv) == ErrorCode.TOKEN_INVALID
    for bad in (res.access_token, "garbage"):
        assert code_of(engine, auth.refresh, bad, kv=kv) == ErrorCode.TOKEN_INVALID
    run(engine, auth.refresh, res.refresh_token, kv=kv)  # none of the above spent it


def test_refresh_for_deactivated_user_is_refused(engine, alice):
    kv = MemoryKV()
    res = run(engine, auth.sign_in, "alice@example.com", PW, "c1", kv=kv)
    with session_scope(engine, write=True) as s:
        s.get(User, alice.id).is_active = False
    assert code_of(engine, auth.refresh, res.refresh_token, kv=kv) == ErrorCode.TOKEN_REVOKED
    assert all(r.revoked_at for r in rows(engine, tokens.decode_refresh(res.refresh_token).family_id))


@pytest.mark.parametrize("with_refresh", [True, False])
def test_sign_out_ends_the_session(engine, alice, kv, with_refresh):
    res = run(engine, auth.sign_in, "alice@example.com", PW, "c1", kv=kv)
    # The state may pass the token or already-decoded claims, with or without the refresh token.
    access = res.access_token if with_refresh else tokens.decode_access(res.access_token, kv=kv)
    run(engine, auth.sign_out, access, res.refresh_token if with_refresh else None, kv=kv)
    assert code_of(engine, auth.identify, res.access_token, kv=kv) == ErrorCode.TOKEN_REVOKED
    assert code_of(engine, auth.refresh, res.refresh_token, kv=kv) == ErrorCode.TOKEN_REVOKED
    run(engine, auth.sign_out, res.access_token, res.refresh_token, kv=kv)  # idempotent


def test_sign_out_tolerates_bad_tokens(engine, alice):
    kv = MemoryKV()
    res = run(engine, auth.sign_in, "alice@example.com", PW, "c1", kv=kv)
    run(engine, auth.sign_out, "garbage", "garbage", kv=kv)
    run(engine, auth.sign_out, None, None, kv=kv)
    # An expired refresh token can still end its session.
    late = datetime.now(timezone.utc) + timedelta(days=get_settings().refresh_token_days + 1)
    run(engine, auth.sign_out, None, res.refresh_token, kv=kv, now=late)
    assert code_of(engine, auth.refresh, res.refresh_token, kv=kv) == ErrorCode.TOKEN_REVOKED


def test_identify_rereads_the_user(engine, alice):
    kv = MemoryKV()
    res = run(engine, auth.sign_in, "alice@example.com", PW, "c1", kv=kv)
    with session_scope(engine, write=True) as s:
        s.get(User, alice.id).role = "agent"
    assert run(engine, auth.identify, res.access_token, kv=kv).role == "agent"  # DB wins over token
    with session_scope(engine, write=True) as s:
        s.get(User, alice.id).is_active = False
    assert code_of(engine, auth.identify, res.access_token, kv=kv) == ErrorCode.TOKEN_REVOKED
    ghost, _ = tokens.create_access_token(9999, "agent")
    assert code_of(engine, auth.identify, ghost, kv=kv) == ErrorCode.TOKEN_INVALID
    expired, _ = tokens.create_access_token(alice.id, "customer", now=datetime.now(timezone.utc) - timedelta(hours=1))
    assert code_of(engine, auth.identify, expired, kv=kv) == ErrorCode.TOKEN_EXPIRED
