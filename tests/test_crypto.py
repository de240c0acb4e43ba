"""The keyring (AES-256-GCM under key ids), blind indexes, the settings they come from,
and the search-word normalisation they are applied to."""

from __future__ import annotations

import base64

import pytest

from fixtures_crypto import key_text
from support_app.domain.search_terms import name_query, name_terms, subject_query, subject_terms, words
from support_app.security.crypto import (
    BlindIndex, CryptoConfigError, CryptoError, Keyring, crypto_settings_problems, split_token,
)
from support_app.settings import Settings

K1, K2 = key_text(1), key_text(2)


def test_round_trip_and_format():
    ring = Keyring.parse(f"kid1:{K1}")
    for plain in ("alice@example.com", "", "Chloé O'Neil ☃ 😀", "x" * 10_000):
        token = ring.encrypt(plain, "users.email")
        assert token.startswith("enc1:kid1:") and plain not in token if plain else True
        assert ring.decrypt(token, "users.email") == plain
        body = token.split(":", 2)[2]
        assert "=" not in body and len(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))) == 12 + len(plain.encode()) + 16


def test_every_encryption_is_different():
    ring = Keyring.parse(f"kid1:{K1}")
    assert len({ring.encrypt("same", "t.c") for _ in range(50)}) == 50  # random 96-bit nonces


def test_wrong_aad_fails():
    ring = Keyring.parse(f"kid1:{K1}")
    token = ring.encrypt("alice@example.com", "users.email")
    with pytest.raises(CryptoError, match="another column"):
        ring.decrypt(token, "users.full_name")  # moved to another column


def test_tampering_fails():
    ring = Keyring.parse(f"kid1:{K1}")
    token = ring.encrypt("PAY-123", "order_snapshots.payment_reference")
    body = bytearray(base64.urlsafe_b64decode(token.split(":", 2)[2] + "=="))
    for i in (0, 12, len(body) - 1):  # nonce, ciphertext, tag
        bad = bytearray(body)
        bad[i] ^= 1
        forged = "enc1:kid1:" + base64.urlsafe_b64encode(bytes(bad)).decode().rstrip("=")
        with pytest.raises(CryptoError, match="does not authenticate"):
            ring.decrypt(forged, "order_snapshots.payment_reference")
    for garbage in ("plain text", "enc1:kid1:", "enc1:kid1:@@@", "enc2:kid1:AAAA", "enc1:bad kid:AAAA", "enc1:kid1:AAAA"):
        with pytest.raises(CryptoError):
            ring.decrypt(garbage, "t.c")


def test_unknown_kid_fails_clearly():
    token = Keyring.parse(f"old:{K1}").encrypt("secret", "t.c")
    with pytest.raises(CryptoError, match="key id 'old', which is not in the keyring"):
        Keyring.parse(f"new:{K2}").decrypt(token, "t.c")


def test_rotation_first_key_encrypts_all_decrypt():
    old = Keyring.parse(f"old:{K1}")
    rotated = Keyring.parse(f"new:{K2}, old:{K1}")
    before = old.encrypt("secret", "t.c")
    after = rotated.encrypt("secret", "t.c")
    assert split_token(after)[0] == "new" and rotated.current_kid == "new" and rotated.kids == ("new", "old")
    assert rotated.decrypt(before, "t.c") == rotated.decrypt(after, "t.c") == "secret"
    assert not rotated.is_current(before) and rotated.is_current(after)
    moved = rotated.reencrypt(before, "t.c")
    assert split_token(moved)[0] == "new" and rotated.reencrypt(moved, "t.c") == moved
    assert Keyring.parse(f"new:{K2}").decrypt(moved, "t.c") == "secret"  # the old key can go


@pytest.mark.parametrize("text,why", [
    ("", "no key"), ("kid1", "kid:<base64"), (f"kid1:{K1},kid1:{K2}", "twice"), ("kid1:notbase64!", "base64"),
    (f"kid1:{base64.b64encode(b'short').decode()}", "32 bytes"), (f"bad:kid:{K1}", "base64"),
    (f"b@d:{K1}", "key id"),
])
def test_malformed_keyrings_are_refused(text, why):
    with pytest.raises(CryptoConfigError, match=why):
        Keyring.parse(text)


def test_urlsafe_key_text_is_accepted():
    raw = bytes(range(200, 232))
    assert Keyring.parse("k:" + base64.urlsafe_b64encode(raw).decode()).decrypt(
        Keyring.parse("k:" + base64.b64encode(raw).decode()).encrypt("x", "a"), "a") == "x"


def test_blind_index():
    bidx = BlindIndex.parse(K1)
    a = bidx("email", "alice@example.com")
    assert a == bidx("email", "alice@example.com") and len(a) == 32 and int(a, 16) >= 0
    assert a != bidx("name", "alice@example.com")  # purposes are kept apart
    assert a != BlindIndex.parse(K2)("email", "alice@example.com")  # keyed
    assert "alice" not in a


def test_production_must_set_the_keys():
    prod = Settings(environment="production", data_keys="", blind_index_key="")
    assert crypto_settings_problems(prod) == ["SUPPORT_DATA_KEYS must be set in production",
                                              "SUPPORT_BLIND_INDEX_KEY must be set in production"]
    assert any("SUPPORT_DATA_KEYS" in p for p in prod.problems(environ={}))
    bad = Settings(environment="production", data_keys="k:short", blind_index_key="nope")
    assert [p.split(":")[0] for p in crypto_settings_problems(bad)] == ["SUPPORT_DATA_KEYS", "SUPPORT_BLIND_INDEX_KEY"]
    assert crypto_settings_problems(Settings(environment="production", data_keys=f"k2:{K2},k1:{K1}", blind_index_key=K1)) == []
    assert crypto_settings_problems(Settings(environment="test", data_keys="", blind_index_key="")) == []


def test_development_keys_are_generated_once(tmp_path, monkeypatch):
    from support_app.security import crypto

    monkeypatch.setattr("support_app.settings.DATA_DIR", tmp_path)
    dev = Settings(environment="development", data_keys="", blind_index_key="")
    ring = crypto.keyring_from_settings(dev)
    assert ring.current_kid == "dev1" and (tmp_path / "data_keys").stat().st_mode & 0o777 == 0o600
    assert crypto.keyring_from_settings(dev).decrypt(ring.encrypt("x", "a"), "a") == "x"  # the same key again
    assert crypto.blind_index_from_settings(dev)("p", "v") == crypto.blind_index_from_settings(dev)("p", "v")
    prod = Settings(environment="production", data_keys="", blind_index_key="")
    with pytest.raises(CryptoConfigError):
        crypto.keyring_from_settings(prod)
    with pytest.raises(CryptoConfigError):
        crypto.blind_index_from_settings(prod)


def test_search_words():
    assert words("Chloé O'Neil-Smith_Jones 100%") == ["chloe", "o", "neil", "smith", "jones", "100"]
    assert name_terms("Kenji Ab") == {"ken", "kenj", "kenji", "ab"}
    assert subject_terms("A kettle, a KETTLE: broken!") == {"kettle", "broken"}
    assert name_query("Ken ken  Ö") == ("ken", "o") and subject_query("I am a Kettle") == ("am", "kettle")
    assert words("ＫＥＮＪＩ") == ["kenji"]  # NFKD folds full-width letters too


def test_recently_read_values_come_from_a_bounded_cache(monkeypatch):
    from support_app.security import crypto

    ring = Keyring([("k1", bytes(32))])
    token = ring.encrypt("Alice Martin", "users.full_name")
    calls: list[str] = []
    real = ring._decrypt
    monkeypatch.setattr(ring, "_decrypt", lambda t, a: calls.append(t) or real(t, a))
    assert ring.decrypt(token, "users.full_name") == ring.decrypt(token, "users.full_name") == "Alice Martin"
    assert len(calls) == 1
    with pytest.raises(CryptoError):  # the cache is per (token, column): moving a value still fails
        ring.decrypt(token, "users.email")
    monkeypatch.setattr(crypto, "RECENT_VALUES", 3)
    for n in range(10):
        ring.decrypt(ring.encrypt(f"v{n}", "t.c"), "t.c")
    assert len(ring._recent) == 3
