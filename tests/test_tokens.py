"""Access/refresh JWTs: every way a token can be wrong must be refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime, timedelta, timezone

import jwt
import pytest
import redis
from hypothesis import given, settings as hyp_settings, strategies as st

from support_app.domain.errors import DomainError, ErrorCode
from support_app.kv import MemoryKV, RedisKV
from support_app.security import revocation, tokens
from support_app.settings import get_settings

S = get_settings()
NOW = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
MEM = MemoryKV()




def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _payload(**changes) -> dict:
    ts = int(NOW.timestamp())
    p = {"sub": "7", "role": "agent", "typ": "access", "iss": S.jwt_issuer, "aud": S.jwt_audience,
         "iat": ts, "nbf": ts, "exp": ts + 900, "jti": "j" * 32}
    p.update(changes)
    return {k: v for k, v in p.items() if v is not None}


def _sign(payload: dict, key: str | None = None, alg: str = "HS256") -> str:
    return jwt.encode(payload, key or S.jwt_secret, algorithm=alg)


def _code(token: str, **kw) -> ErrorCode:
    with pytest.raises(DomainError) as err:
        tokens.decode_access(token, now=NOW, kv=MEM, **kw)
    return err.value.code


def test_access_round_trip_carries_every_required_claim():
    token, claims = tokens.create_access_token(7, "agent", family_id="fam1", now=NOW)
    assert tokens.decode_access(token, now=NOW, kv=MEM) == claims
    assert claims.user_id == 7 and claims.role == "agent" and claims.family_id == "fam1"
    assert claims.expires_at == NOW + timedelta(minutes=S.access_token_minutes)
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    raw = jwt.decode(token, options={"verify_signature": False})
    assert {"sub", "role", "typ", "iss", "aud", "iat", "nbf", "exp", "jti", "fam"} <= raw.keys()
    assert raw["typ"] == "access" and raw["sub"] == "7" and len(raw["jti"]) == 32
    other, _ = tokens.create_access_token(7, "agent", now=NOW)
    assert jwt.decode(other, options={"verify_signature": False})["jti"] != raw["jti"]


def test_hand_built_valid_token_is_accepted():
    # Guards the tests below: each one changes exactly one thing of this token.
    assert tokens.decode_access(_sign(_payload()), now=NOW, kv=MEM).user_id == 7


def test_expiry_with_small_leeway():
    token, claims = tokens.create_access_token(7, "agent", now=NOW)
    exp = claims.expires_at
    tokens.decode_access(token, now=exp + timedelta(seconds=tokens.LEEWAY_SECONDS - 1), kv=MEM)
    with pytest.raises(DomainError) as err:
        tokens.decode_access(token, now=exp + timedelta(seconds=tokens.LEEWAY_SECONDS), kv=MEM)
    assert err.value.code == ErrorCode.TOKEN_EXPIRED
    with pytest.raises(DomainError) as err:
        tokens.decode_access(token, now=exp + timedelta(days=1), kv=MEM)
    assert err.value.code == ErrorCode.TOKEN_EXPIRED


def test_real_clock_is_used_without_now():
    past = datetime.now(timezone.utc) - timedelta(days=400)
    token, _ = tokens.create_access_token(1, "customer", now=past)
    with pytest.raises(DomainError) as err:
        tokens.decode_access(token, kv=MEM)
    assert err.value.code == ErrorCode.TOKEN_EXPIRED
    fresh, claims = tokens.create_access_token(1, "customer")
    assert tokens.decode_access(fresh, kv=MEM) == claims


def test_not_yet_valid_nbf_and_iat_in_future():
    ts = int(NOW.timestamp())
    assert _code(_sign(_payload(nbf=ts + 60))) == ErrorCode.TOKEN_INVALID
    assert _code(_sign(_payload(iat=ts + 60))) == ErrorCode.TOKEN_INVALID
    tokens.decode_access(_sign(_payload(nbf=ts + tokens.LEEWAY_SECONDS)), now=NOW, kv=MEM)  # skew ok
    token, _ = tokens.create_access_token(7, "agent", now=NOW + timedelta(minutes=1))
    assert _code(token) == ErrorCode.TOKEN_INVALID


def test_tampered_signature_and_payload():
    token = _sign(_payload(role="customer"))
    head, body, sig = token.split(".")
    flipped = sig[:5] + ("A" if sig[5] != "A" else "B") + sig[6:]
    assert _code(f"{head}.{body}.{flipped}") == ErrorCode.TOKEN_INVALID
    forged_body = _b64(json.dumps(_payload(role="agent")).encode())
    assert _code(f"{head}.{forged_body}.{sig}") == ErrorCode.TOKEN_INVALID  # privilege escalation
    assert _code(f"{head}.{body}.") == ErrorCode.TOKEN_INVALID
    assert _code(_sign(_payload(), key="another-secret-" + "y" * 40)) == ErrorCode.TOKEN_INVALID


def test_alg_none_is_refused():
    unsigned = jwt.encode(_payload(), None, algorithm="none")
    assert _code(unsigned) == ErrorCode.TOKEN_INVALID
    for alg in ("none", "None", "NONE"):
        hand = f"{_b64(json.dumps({'alg': alg, 'typ': 'JWT'}).encode())}.{_b64(json.dumps(_payload()).encode())}."
        assert _code(hand) == ErrorCode.TOKEN_INVALID


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
@pytest.mark.parametrize("alg", ["HS384", "HS512"])
def test_other_hmac_algorithms_with_the_same_key_are_refused(alg):
    assert _code(_sign(_payload(), alg=alg)) == ErrorCode.TOKEN_INVALID


@pytest.mark.parametrize("alg", ["RS256", "ES256", "PS256", "EdDSA"])
def test_asymmetric_header_signed_with_the_secret_is_refused(alg):
    # The classic key-confusion attack: claim an asymmetric alg, sign with HMAC.
    signing_input = f"{_b64(json.dumps({'alg': alg, 'typ': 'JWT'}).encode())}.{_b64(json.dumps(_payload()).encode())}"
    sig = hmac.new(S.jwt_secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    assert _code(f"{signing_input}.{_b64(sig)}") == ErrorCode.TOKEN_INVALID


@pytest.mark.parametrize(
    "changes",
    [{"aud": "someone-else"}, {"aud": [S.jwt_audience, "x"]}, {"iss": "evil"}, {"typ": "refresh"},
     {"typ": None}, {"sub": "abc"}, {"sub": 7}, {"sub": ""}, {"jti": 5}, {"exp": "9999999999"},
     {"exp": True}, {"iat": 1.5}],
    ids=repr,
)
def test_wrong_claims_are_invalid(changes):
    assert _code(_sign(_payload(**changes))) == ErrorCode.TOKEN_INVALID


@pytest.mark.parametrize("claim", ["exp", "iat", "nbf", "iss", "aud", "sub", "jti", "typ", "role"])
def test_missing_claim_is_invalid(claim):
    assert _code(_sign(_payload(**{claim: None}))) == ErrorCode.TOKEN_INVALID


def test_refresh_token_is_not_an_access_token_and_vice_versa():
    refresh, rc = tokens.create_refresh_token(7, "famX", now=NOW)
    assert _code(refresh) == ErrorCode.TOKEN_INVALID
    access, _ = tokens.create_access_token(7, "agent", family_id="famX", now=NOW)
    with pytest.raises(DomainError) as err:
        tokens.decode_refresh(access, now=NOW)
    assert err.value.code == ErrorCode.TOKEN_INVALID
    assert tokens.decode_refresh(refresh, now=NOW) == rc
    assert rc.expires_at == NOW + timedelta(days=S.refresh_token_days)


def test_refresh_expiry_and_allow_expired():
    refresh, rc = tokens.create_refresh_token(7, "famX", now=NOW)
    later = rc.expires_at + timedelta(seconds=60)
    with pytest.raises(DomainError) as err:
        tokens.decode_refresh(refresh, now=later)
    assert err.value.code == ErrorCode.TOKEN_EXPIRED
    assert tokens.decode_refresh(refresh, now=later, allow_expired=True).family_id == "famX"


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "x" * 5000, "..", "e30.e30.e30"])
def test_garbage_is_invalid(garbage):
    assert _code(garbage) == ErrorCode.TOKEN_INVALID


def test_revoked_access_token(kv):
    token, claims = tokens.create_access_token(7, "agent", now=NOW)
    other, _ = tokens.create_access_token(7, "agent", now=NOW)
    revocation.revoke_access(claims.jti, claims.expires_at, kv=kv, now=NOW)
    with pytest.raises(DomainError) as err:
        tokens.decode_access(token, now=NOW, kv=kv)
    assert err.value.code == ErrorCode.TOKEN_REVOKED
    assert tokens.decode_access(other, now=NOW, kv=kv).user_id == 7
    assert tokens.decode_access(token, now=NOW, kv=kv, check_revoked=False) == claims


def test_revoked_family_kills_every_access_token_of_the_session(kv):
    a, _ = tokens.create_access_token(7, "agent", family_id="fam-A", now=NOW)
    b, _ = tokens.create_access_token(7, "agent", family_id="fam-A", now=NOW)
    c, _ = tokens.create_access_token(7, "agent", family_id="fam-B", now=NOW)
    revocation.revoke_family("fam-A", 900, kv=kv)
    for t in (a, b):
        with pytest.raises(DomainError) as err:
            tokens.decode_access(t, now=NOW, kv=kv)
        assert err.value.code == ErrorCode.TOKEN_REVOKED
    assert tokens.decode_access(c, now=NOW, kv=kv).family_id == "fam-B"


def test_revocation_entry_in_redis_lives_until_expiry_plus_margin(redis_url):
    url, prefix = redis_url
    now = datetime.now(timezone.utc)
    revocation.revoke_access("jti-1", now + timedelta(seconds=600), kv=RedisKV(url, prefix=prefix), now=now)
    ttl = redis.Redis.from_url(url).ttl(f"{prefix}revoked:jti:jti-1")
    assert 600 < ttl <= 600 + revocation.TTL_MARGIN_SECONDS
    assert revocation.TTL_MARGIN_SECONDS >= tokens.LEEWAY_SECONDS
    # A token long expired needs no entry at all.
    revocation.revoke_access("jti-2", now - timedelta(hours=1), kv=RedisKV(url, prefix=prefix), now=now)
    assert redis.Redis.from_url(url).exists(f"{prefix}revoked:jti:jti-2") == 0


_VALID = _sign(_payload())


@hyp_settings(max_examples=300, deadline=None)
@given(pos=st.integers(min_value=0, max_value=len(_VALID) - 1), ch=st.sampled_from("ABCxyz019-_."))
def test_any_single_character_change_is_refused_or_harmless(pos, ch):
    mutated = _VALID[:pos] + ch + _VALID[pos + 1:]
    try:
        claims = tokens.decode_access(mutated, now=NOW, kv=MEM)
    except DomainError as err:
        assert err.code == ErrorCode.TOKEN_INVALID
    else:  # only base64 padding bits changed: the signed bytes are identical
        assert claims == tokens.decode_access(_VALID, now=NOW, kv=MEM)
