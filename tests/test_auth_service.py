"""Auth use cases against a real SQLite file and a real (or in-memory) KV.

Each call runs in its own ``session_scope`` as in the app, so commit-before-raise is real.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import argon2
import pytest
from sqlmodel import select

from fixtures_db import hold_write_lock
from support_app import db
from support_app.db import session_scope
from support_app.domain.errors import DomainError, ErrorCode
from support_app.kv import MemoryKV, RedisKV
from support_app.models.user import RefreshToken, SignIn, User
from support_app.security import passwords, ratelimit, revocation, tokens
from support_app.services import auth_service as auth
from support_app.settings import get_settings
from support_app.state.login import refusal_text

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


def sign_in(engine, email="alice@example.com", password=PW, client="c1", kv=None, **kw):
    return auth.sign_in(email, password, client, kv=kv or MemoryKV(), engine=engine, **kw)


def sign_in_code(engine, *args, **kw) -> ErrorCode:
    with pytest.raises(DomainError) as err:
        sign_in(engine, *args, **kw)
    return err.value.code


def tab(engine, result, kv, tab_id="tab-1", **kw):
    return run(engine, auth.open_tab, result.session_token, tab_id, kv=kv, **kw)


def test_sign_in_starts_a_sign_in_and_tabs_open_from_it(engine, alice, kv):
    res = sign_in(engine, "ALICE@example.com ", kv=kv)
    assert res.user == alice
    claims = tokens.decode_session(res.session_token)
    assert claims.expires_at == res.expires_at and res.expires_at - claims.issued_at == timedelta(days=30)
    with session_scope(engine) as s:
        row = s.get(SignIn, claims.family_id)
    assert row.user_id == alice.id and row.revoked_at is None and row.expires_at == res.expires_at
    one, two = tab(engine, res, kv, "tab-1"), tab(engine, res, kv, "tab-2")  # the cookie token is not spent
    assert one.family_id == two.family_id == claims.family_id and one.refresh_token != two.refresh_token
    assert auth.identify(one.access_token, kv=kv) == auth.Identity(alice.id, "customer", claims.family_id)
    assert kv.members(f"tabs:{claims.family_id}") == {"tab-1", "tab-2"}


def test_an_agents_sign_in_lasts_hours_and_rotation_never_extends_it(engine, alice, kv):
    agent = run(engine, auth.create_user, "sam@example.com", "Sam", "agent", PW)
    res = sign_in(engine, "sam@example.com", kv=kv)
    assert res.expires_at - tokens.decode_session(res.session_token).issued_at == timedelta(hours=12)
    first = tab(engine, res, kv)
    assert tokens.decode_refresh(first.refresh_token).expires_at == res.expires_at  # capped by the sign-in
    late = res.expires_at - timedelta(minutes=1)
    rotated = run(engine, auth.refresh, first.refresh_token, kv=kv, now=late)
    assert tokens.decode_refresh(rotated.refresh_token, now=late).expires_at == res.expires_at
    assert tokens.decode_access(rotated.access_token, now=late).expires_at == res.expires_at
    after = res.expires_at + timedelta(seconds=1)
    assert code_of(engine, auth.refresh, rotated.refresh_token, kv=kv, now=after) == ErrorCode.TOKEN_EXPIRED
    assert code_of(engine, auth.open_tab, res.session_token, "t", kv=kv, now=after) == ErrorCode.TOKEN_EXPIRED
    assert agent.role == "agent"


def test_unknown_user_and_wrong_password_look_identical(engine, alice, argon2_calls):
    kv = MemoryKV()
    errors = []
    for email, pw, client in [("nobody@example.com", PW, "c1"), ("alice@example.com", "wrong-password", "c2")]:
        with pytest.raises(DomainError) as err:
            sign_in(engine, email, pw, client, kv=kv)
        errors.append((err.value.code, err.value.message, err.value.fields))
    assert errors[0] == errors[1] and errors[0][0] == ErrorCode.INVALID_CREDENTIALS
    # One real argon2 verification each, against hashes of the same cost.
    unknown_hash, alice_hash = argon2_calls
    assert unknown_hash.decode() == passwords.dummy_hash()
    assert unknown_hash.split(b"$")[:4] == alice_hash.split(b"$")[:4]


def test_inactive_user_cannot_sign_in(engine, alice, argon2_calls):
    with session_scope(engine, write=True) as s:
        s.get(User, alice.id).is_active = False
    assert sign_in_code(engine) == ErrorCode.INVALID_CREDENTIALS
    assert len(argon2_calls) == 1


def test_failures_are_throttled_per_account_and_client_but_successes_cost_nothing(engine, alice, kv, argon2_calls):
    limit = get_settings().login_max_failures
    for _ in range(limit + 3):  # the owner signing in many times uses no budget
        sign_in(engine, kv=kv, client="office")
    for _ in range(limit):
        assert sign_in_code(engine, password="nope-nope", kv=kv, client="guesser") == ErrorCode.INVALID_CREDENTIALS
    calls = len(argon2_calls)
    # This client is stopped for this account, before any password work...
    assert sign_in_code(engine, kv=kv, client="guesser") == ErrorCode.RATE_LIMITED
    assert len(argon2_calls) == calls
    # ...but the owner, elsewhere, is not locked out.
    assert sign_in(engine, kv=kv, client="office").user == alice


def test_many_failures_from_many_places_slow_the_account_down_progressively(engine, alice, kv):
    s = get_settings()
    throttle = ratelimit.LoginThrottle(kv)
    email, t0 = "alice@example.com", 1_000_000.0
    for i in range(s.login_account_free_failures):
        throttle.reserve(email, f"bot{i}", now=t0)
        throttle.failed(email, now=t0)
    throttle.reserve(email, "bot-a", now=t0)  # the last free failure: no wait yet
    throttle.failed(email, now=t0)
    assert throttle.account_wait(email, t0) == 1 and throttle.account_wait(email, t0 + 1) == 0
    with pytest.raises(DomainError) as err:
        throttle.reserve(email, "owner", now=t0)
    assert err.value.code == ErrorCode.RATE_LIMITED and err.value.fields["retry_after"] == "1"
    throttle.reserve(email, "bot-b", now=t0 + 1)
    throttle.failed(email, now=t0 + 1)
    assert throttle.account_wait(email, t0 + 1) == 2  # doubling
    for n in range(30):
        throttle.failed(email, now=t0 + 2)
    assert throttle.account_wait(email, t0 + 2) == s.login_account_max_delay_seconds  # capped: never a lockout
    throttle.succeeded(email, "owner")
    assert throttle.account_wait(email, t0 + 2) == 0


def test_failures_per_client_across_accounts(engine, alice, kv, monkeypatch):
    monkeypatch.setattr(get_settings(), "login_client_max_failures", 4)  # each attempt is a real argon2 check
    for i in range(4):
        assert sign_in_code(engine, f"ghost{i}@example.com", kv=kv, client="1.2.3.4") == ErrorCode.INVALID_CREDENTIALS
    assert sign_in_code(engine, kv=kv, client="1.2.3.4") == ErrorCode.RATE_LIMITED
    assert sign_in(engine, kv=kv, client="5.6.7.8").user == alice


def test_parallel_guesses_cannot_exceed_the_budget(engine, alice, kv, argon2_calls):
    limit = get_settings().login_max_failures
    barrier, codes, lock = threading.Barrier(12), [], threading.Lock()

    def guess() -> None:
        barrier.wait()
        code = sign_in_code(engine, password="wrong-guess", kv=kv, client="bot")
        with lock:
            codes.append(code)

    threads = [threading.Thread(target=guess) for _ in range(12)]
    [t.start() for t in threads], [t.join() for t in threads]
    assert codes.count(ErrorCode.INVALID_CREDENTIALS) == limit and len(argon2_calls) == limit
    assert codes.count(ErrorCode.RATE_LIMITED) == 12 - limit


def test_the_password_is_checked_outside_any_write_transaction(engine, alice, monkeypatch):
    """argon2 runs while no transaction holds SQLite's write lock: another writer
    gets in during the verification."""
    real = passwords.verify_or_dummy
    wrote = []

    def verify_then_write(password, password_hash):
        with session_scope(engine, write=True) as s:  # would wait 5 s and fail if a write lock were held
            s.get(User, alice.id).full_name = "Alice B"
        wrote.append(True)
        return real(password, password_hash)

    monkeypatch.setattr(passwords, "verify_or_dummy", verify_then_write)
    assert sign_in(engine).user.full_name == "Alice B" and wrote == [True]


def _signed_in_rows(engine) -> int:
    with session_scope(engine) as s:
        return len(s.exec(select(SignIn)).all())


@pytest.mark.parametrize("held", [0.15, 1.5])
def test_a_busy_write_lock_is_waited_out_or_answered_busy_never_a_database_error(engine, alice, monkeypatch, held):
    """Recording the sign-in needs SQLite's write lock: one held for a moment (longer than
    the busy timeout) is waited out; one held for seconds gives SERVICE_BUSY, which the
    sign-in page words for a person, and no sign-in is stored."""
    monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_MS", 30)
    engine.dispose()  # new connections take the short timeout
    started = threading.Event()
    holder = threading.Thread(target=hold_write_lock, args=(engine.url.database, held, started))
    holder.start()
    started.wait()
    try:
        if held < 1:
            assert sign_in(engine).user.email == "alice@example.com"
        else:
            assert sign_in_code(engine) is ErrorCode.SERVICE_BUSY
            assert "could not sign you in" in refusal_text("SERVICE_BUSY", "")
    finally:
        holder.join()
    assert _signed_in_rows(engine) == (1 if held < 1 else 0)


def test_outdated_hash_is_upgraded_on_sign_in(engine, alice):
    from passlib.context import CryptContext

    weak = CryptContext(schemes=["argon2"], argon2__type="ID", argon2__memory_cost=1024, argon2__rounds=1)
    with session_scope(engine, write=True) as s:
        s.get(User, alice.id).password_hash = weak.hash(PW)
    sign_in(engine)
    with session_scope(engine) as s:
        new_hash = s.get(User, alice.id).password_hash
    assert not passwords.needs_rehash(new_hash) and passwords.verify_password(PW, new_hash)


def test_refresh_rotates_a_tabs_chain(engine, alice, kv):
    first = tab(engine, sign_in(engine, kv=kv), kv)
    second = run(engine, auth.refresh, first.refresh_token, kv=kv)
    third = run(engine, auth.refresh, second.refresh_token, kv=kv)
    fam = first.family_id
    assert {second.family_id, third.family_id} == {fam}
    by_jti = {r.jti: r for r in rows(engine, fam)}
    assert len(by_jti) == 3
    assert by_jti[tokens.decode_refresh(first.refresh_token).jti].used_at is not None
    assert by_jti[tokens.decode_refresh(third.refresh_token).jti].used_at is None
    assert auth.identify(third.access_token, kv=kv).id == alice.id


def test_a_token_presented_again_within_the_grace_window_is_tolerated(engine, alice, kv):
    """Two tabs restored at once, or an event retried after its answer was lost:
    the same token twice within seconds gets a second chain, not a sign-out."""
    first = tab(engine, sign_in(engine, kv=kv), kv)
    now = datetime.now(timezone.utc)
    a = run(engine, auth.refresh, first.refresh_token, kv=kv, now=now)
    grace = get_settings().refresh_grace_seconds
    b = run(engine, auth.refresh, first.refresh_token, kv=kv, now=now + timedelta(seconds=grace))
    assert a.refresh_token != b.refresh_token
    later = now + timedelta(seconds=grace)
    assert auth.identify(a.access_token, kv=kv, now=later).id == auth.identify(b.access_token, kv=kv, now=later).id


def test_reuse_after_the_grace_window_revokes_the_whole_sign_in(engine, alice, kv):
    res = sign_in(engine, kv=kv)
    first, other_tab = tab(engine, res, kv), tab(engine, res, kv)
    elsewhere = tab(engine, sign_in(engine, kv=kv, client="c2"), kv)
    now = datetime.now(timezone.utc)
    second = run(engine, auth.refresh, first.refresh_token, kv=kv, now=now)
    late = now + timedelta(seconds=get_settings().refresh_grace_seconds + 1)
    # The old token shows up again, too late to be a retry: one of its holders is a thief.
    assert code_of(engine, auth.refresh, first.refresh_token, kv=kv, now=late) == ErrorCode.TOKEN_REUSED
    assert all(r.revoked_at is not None for r in rows(engine, first.family_id))  # committed despite the error
    with session_scope(engine) as s:
        assert s.get(SignIn, first.family_id).revoked_at is not None
    for dead in (second, other_tab):
        assert code_of(engine, auth.refresh, dead.refresh_token, kv=kv) == ErrorCode.TOKEN_REVOKED
        with pytest.raises(DomainError):
            auth.identify(dead.access_token, kv=kv)
    assert code_of(engine, auth.open_tab, res.session_token, "t", kv=kv) == ErrorCode.TOKEN_REVOKED
    # Another sign-in of the same person is untouched.
    assert auth.identify(elsewhere.access_token, kv=kv).id == alice.id
    run(engine, auth.refresh, elsewhere.refresh_token, kv=kv)


def test_concurrent_refreshes_with_one_token_spend_it_once(engine, alice, kv):
    first = tab(engine, sign_in(engine, kv=kv), kv)
    n = 8
    barrier = threading.Barrier(n)
    results: list[object] = []
    lock = threading.Lock()

    def worker() -> None:
        barrier.wait()
        try:
            out: object = run(engine, auth.refresh, first.refresh_token, kv=kv)  # own session per thread
        except Exception as exc:  # noqa: BLE001 - surfaced by the asserts
            out = exc.code if isinstance(exc, DomainError) else exc
        with lock:
            results.append(out)

    threads = [threading.Thread(target=worker) for _ in range(n)]
    [t.start() for t in threads], [t.join() for t in threads]
    assert all(isinstance(r, auth.TabTokens) for r in results), results  # all within the grace window
    fam_rows = rows(engine, first.family_id)
    assert len(fam_rows) == 1 + n and sum(r.used_at is not None for r in fam_rows) == 1
    assert all(r.revoked_at is None for r in fam_rows)


def test_refresh_errors(engine, alice, kv):
    first = tab(engine, sign_in(engine, kv=kv), kv)
    rc = tokens.decode_refresh(first.refresh_token)
    later = rc.expires_at + timedelta(minutes=1)
    assert code_of(engine, auth.refresh, first.refresh_token, kv=kv, now=later) == ErrorCode.TOKEN_EXPIRED
    unknown, _ = tokens.create_refresh_token(alice.id, rc.family_id)  # validly signed, no row
    assert code_of(engine, auth.refresh, unknown, kv=kv) == ErrorCode.TOKEN_INVALID
    head, body, sig = first.refresh_token.split(".")
    assert code_of(engine, auth.refresh, f"{head}.{body}.{sig[::-1]}", kv=kv) == ErrorCode.TOKEN_INVALID
    for bad in (first.access_token, "garbage"):
        assert code_of(engine, auth.refresh, bad, kv=kv) == ErrorCode.TOKEN_INVALID
    run(engine, auth.refresh, first.refresh_token, kv=kv)  # none of the above spent it


def test_deactivation_ends_running_sessions_at_their_next_event(engine, alice, kv):
    res = sign_in(engine, kv=kv)
    first = tab(engine, res, kv)
    assert run(engine, auth.deactivate_user, "Alice@Example.com", kv=kv).id == alice.id
    with pytest.raises(DomainError) as err:
        auth.identify(first.access_token, kv=kv)  # no database read: the revocation list says so
    assert err.value.code == ErrorCode.TOKEN_REVOKED
    assert code_of(engine, auth.refresh, first.refresh_token, kv=kv) == ErrorCode.TOKEN_REVOKED
    assert code_of(engine, auth.open_tab, res.session_token, "t", kv=kv) == ErrorCode.TOKEN_REVOKED
    assert sign_in_code(engine, kv=kv) == ErrorCode.INVALID_CREDENTIALS
    assert code_of(engine, auth.deactivate_user, "nobody@example.com", kv=kv) == ErrorCode.USER_NOT_FOUND


def test_sign_out_ends_the_sign_in_and_names_its_tabs(engine, alice, kv):
    res = sign_in(engine, kv=kv)
    one, two = tab(engine, res, kv, "tab-1"), tab(engine, res, kv, "tab-2")
    assert run(engine, auth.sign_out, res.session_token, kv=kv) == {"tab-1", "tab-2"}
    for t in (one, two):
        with pytest.raises(DomainError):
            auth.identify(t.access_token, kv=kv)
        assert code_of(engine, auth.refresh, t.refresh_token, kv=kv) == ErrorCode.TOKEN_REVOKED
    assert code_of(engine, auth.open_tab, res.session_token, "t", kv=kv) == ErrorCode.TOKEN_REVOKED
    run(engine, auth.sign_out, res.session_token, kv=kv)  # idempotent


def test_sign_out_tolerates_bad_and_expired_tokens(engine, alice, kv):
    res = sign_in(engine, kv=kv)
    assert run(engine, auth.sign_out, "garbage", kv=kv) == set()
    forged = tokens.create_session_token(alice.id, "no-such-sign-in", res.expires_at)
    assert run(engine, auth.sign_out, forged, kv=kv) == set()
    late = res.expires_at + timedelta(days=1)
    run(engine, auth.sign_out, res.session_token, kv=kv, now=late)  # an expired sign-in can still be ended
    with session_scope(engine) as s:
        assert s.get(SignIn, tokens.decode_session(res.session_token).family_id).revoked_at is not None


def test_identify_needs_no_database_and_refuses_bad_tokens(engine, alice, kv):
    first = tab(engine, sign_in(engine, kv=kv), kv)
    engine.dispose()
    assert auth.identify(first.access_token, kv=kv).role == "customer"
    expired, _ = tokens.create_access_token(alice.id, "customer", now=datetime.now(timezone.utc) - timedelta(hours=1))
    for bad, code in ((expired, ErrorCode.TOKEN_EXPIRED), (first.refresh_token, ErrorCode.TOKEN_INVALID),
                      ("garbage", ErrorCode.TOKEN_INVALID)):
        with pytest.raises(DomainError) as err:
            auth.identify(bad, kv=kv)
        assert err.value.code == code


def test_identify_async_agrees_with_identify(engine, alice, kv):
    import asyncio

    first = tab(engine, sign_in(engine, kv=kv), kv)
    assert asyncio.run(auth.identify_async(first.access_token, kv=kv)) == auth.identify(first.access_token, kv=kv)
    revocation.revoke_access(tokens.decode_access(first.access_token).jti, datetime.now(timezone.utc) + timedelta(minutes=20), kv=kv)
    with pytest.raises(DomainError):
        asyncio.run(auth.identify_async(first.access_token, kv=kv))
