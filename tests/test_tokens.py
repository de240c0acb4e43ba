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


KID, KEYS = tokens.keyring()


def _sign(payload: dict, key: str | None = None, alg: str = "HS256", kid: str | None = KID) -> str:
    return jwt.encode(payload, key or KEYS[KID], algorithm=alg, headers={"kid": kid} if kid else None)


def _code(token: str, **kw) -> ErrorCode:
    with pytest.raises(DomainError) as err:
        tokens.decode_access(token, now=NOW, **kw)
    return err.value.code


def test_keyring_signs_with_the_first_key_and_verifies_every_listed_key(monkeypatch):
    token, claims = tokens.create_access_token(7, "agent", now=NOW)
    assert jwt.get_unverified_header(token)["kid"] == KID
    # Rotation: a new key goes first; tokens signed with the old one still verify.
    new_key = "n" + "0123456789abcdef" * 3
    monkeypatch.setattr(get_settings(), "jwt_keys", f"k2:{new_key},{get_settings().jwt_keys}")
    assert tokens.decode_access(token, now=NOW) == claims
    fresh, _ = tokens.create_access_token(7, "agent", now=NOW)
    assert jwt.get_unverified_header(fresh)["kid"] == "k2"
    assert tokens.decode_access(fresh, now=NOW).user_id == 7
    # Once the old key is dropped, its tokens are refused; so is an unknown or missing kid.
    monkeypatch.setattr(get_settings(), "jwt_keys", f"k2:{new_key}")
    assert _code(token) == ErrorCode.TOKEN_INVALID
    assert _code(_sign(_payload(), key=new_key, kid="k9")) == ErrorCode.TOKEN_INVALID
    assert _code(_sign(_payload(), key=new_key, kid=None)) == ErrorCode.TOKEN_INVALID
    numeric_kid = f"{_b64(json.dumps({'alg': 'HS256', 'kid': 5}).encode())}.{_b64(json.dumps(_payload()).encode())}"
    sig = hmac.new(new_key.encode(), numeric_kid.encode(), hashlib.sha256).digest()
    assert _code(f"{numeric_kid}.{_b64(sig)}") == ErrorCode.TOKEN_INVALID


def test_access_round_trip_carries_every_required_claim():
    token, claims = tokens.create_access_token(7, "agent", family_id="fam1", now=NOW)
    assert tokens.decode_access(token, now=NOW) == claims
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
    assert tokens.decode_access(_sign(_payload()), now=NOW).user_id == 7


def test_expiry_with_small_leeway():
    token, claims = tokens.create_access_token(7, "agent", now=NOW)
    exp = claims.expires_at
    tokens.decode_access(token, now=exp + timedelta(seconds=tokens.LEEWAY_SECONDS - 1))
    with pytest.raises(DomainError) as err:
        tokens.decode_access(token, now=exp + timedelta(seconds=tokens.LEEWAY_SECONDS))
    assert err.value.code == ErrorCode.TOKEN_EXPIRED
    with pytest.raises(DomainError) as err:
        tokens.decode_access(token, now=exp + timedelta(days=1))
    assert err.value.code == ErrorCode.TOKEN_EXPIRED


def test_a_token_is_verified_once_but_its_times_and_revocation_at_every_use(monkeypatch, kv):
    verifications = []
    real_decode = jwt.decode
    monkeypatch.setattr(jwt, "decode", lambda *a, **kw: verifications.append(1) or real_decode(*a, **kw))
    token, claims = tokens.create_access_token(7, "agent", now=NOW)
    assert [tokens.decode_access(token, now=NOW) for _ in range(3)] == [claims] * 3
    assert len(verifications) == 1  # the signature is checked once per token ...
    with pytest.raises(DomainError) as err:  # ... its expiry at every use ...
        tokens.decode_access(token, now=claims.expires_at + timedelta(seconds=tokens.LEEWAY_SECONDS))
    assert err.value.code == ErrorCode.TOKEN_EXPIRED
    with pytest.raises(DomainError) as err:  # ... and whether it was issued yet
        tokens.decode_access(token, now=NOW - timedelta(minutes=1))
    assert err.value.code == ErrorCode.TOKEN_INVALID
    with pytest.raises(DomainError) as err:  # it is no refresh token, however often it was seen
        tokens.decode_refresh(token, now=NOW)
    assert err.value.code == ErrorCode.TOKEN_INVALID
    revocation.revoke_access(claims.jti, claims.expires_at, kv=kv, now=NOW)  # and revocation, by the caller
    assert revocation.is_revoked(tokens.decode_access(token, now=NOW), kv=kv)
    assert len(verifications) == 2  # the refresh attempt verified it again (refusals are not kept)


def test_real_clock_is_used_without_now():
    past = datetime.now(timezone.utc) - timedelta(days=400)
    token, _ = tokens.create_access_token(1, "customer", now=past)
    with pytest.raises(DomainError) as err:
        tokens.decode_access(token)
    assert err.value.code == ErrorCode.TOKEN_EXPIRED
    fresh, claims = tokens.create_access_token(1, "customer")
    assert tokens.decode_access(fresh) == claims


def test_not_yet_valid_nbf_and_iat_in_future():
    ts = int(NOW.timestamp())
    assert _code(_sign(_payload(nbf=ts + 60))) == ErrorCode.TOKEN_INVALID
    assert _code(_sign(_payload(iat=ts + 60))) == ErrorCode.TOKEN_INVALID
    tokens.decode_access(_sign(_payload(nbf=ts + tokens.LEEWAY_SECONDS)), now=NOW)  # skew ok
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
        hand = f"{_b64(json.dumps({'alg': alg, 'typ': 'JWT', 'kid': KID}).encode())}.{_b64(json.dumps(_payload()).encode())}."
        assert _code(hand) == ErrorCode.TOKEN_INVALID


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
@pytest.mark.parametrize("alg", ["HS384", "HS512"])
def test_other_hmac_algorithms_with_the_same_key_are_refused(alg):
    assert _code(_sign(_payload(), alg=alg)) == ErrorCode.TOKEN_INVALID


@pytest.mark.parametrize("alg", ["RS256", "ES256", "PS256", "EdDSA"])
def test_asymmetric_header_signed_with_the_secret_is_refused(alg):
    # The classic key-confusion attack: claim an asymmetric alg, sign with HMAC.
    signing_input = f"{_b64(json.dumps({'alg': alg, 'typ': 'JWT', 'kid': KID}).encode())}.{_b64(json.dumps(_payload()).encode())}"
    sig = hmac.new(KEYS[KID].encode(), signing_input.encode(), hashlib.sha256).digest()
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
    _, other = tokens.create_access_token(7, "agent", now=NOW)
    revocation.revoke_access(claims.jti, claims.expires_at, kv=kv, now=NOW)
    assert revocation.is_revoked(tokens.decode_access(token, now=NOW), kv=kv)
    assert not revocation.is_revoked(other, kv=kv)


def test_revoked_family_kills_every_access_token_of_the_session(kv):
    a = tokens.create_access_token(7, "agent", family_id="fam-A", now=NOW)[1]
    b = tokens.create_access_token(7, "agent", family_id="fam-A", now=NOW)[1]
    c = tokens.create_access_token(7, "agent", family_id="fam-B", now=NOW)[1]
    revocation.revoke_family("fam-A", kv=kv)
    assert revocation.is_revoked(a, kv=kv) and revocation.is_revoked(b, kv=kv)
    assert not revocation.is_revoked(c, kv=kv)


def test_revoked_user_refuses_tokens_issued_up_to_then_only(kv):
    before = tokens.create_access_token(7, "customer", now=NOW)[1]
    other_user = tokens.create_access_token(8, "customer", now=NOW)[1]
    revocation.revoke_user(7, NOW, kv=kv)
    after = tokens.create_access_token(7, "agent", now=NOW + timedelta(seconds=1))[1]
    assert revocation.is_revoked(before, kv=kv)
    assert not revocation.is_revoked(after, kv=kv) and not revocation.is_revoked(other_user, kv=kv)


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
        claims = tokens.decode_access(mutated, now=NOW)
    except DomainError as err:
        assert err.code == ErrorCode.TOKEN_INVALID
    else:  # only base64 padding bits changed: the signed bytes are identical
        assert claims == tokens.decode_access(_VALID, now=NOW)
