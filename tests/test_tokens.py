"""Portrait session tokens: signed, expiring, revocable, with distinct errors for each failure."""

from __future__ import annotations

import base64
import random
import secrets

import pytest

from linly_demo import errors
from linly_demo.tokens import TokenStore

KEY = secrets.token_bytes(32)


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def _store(clock: Clock | None = None, ttl: float = 3600) -> TokenStore[str]:
    return TokenStore(KEY, ttl, clock=clock or Clock())


def _raw(token: str) -> bytes:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


def _text(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_a_valid_token_resolves_to_its_features() -> None:
    store = _store()
    token = store.issue("features", subject="s")
    assert store.resolve(token) == "features"
    assert len(store) == 1


def test_a_thousand_random_and_bit_flipped_tokens_all_fail() -> None:
    store = _store()
    token = store.issue("features")
    rng = random.Random(7)
    candidates = []
    for _ in range(500):
        length = rng.choice([0, 1, 10, 75, 76, 77, 100])
        candidates.append("".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=.")
                                  for _ in range(length)))
    candidates += [_text(secrets.token_bytes(len(_raw(token)))) for _ in range(100)]
    raw = _raw(token)
    candidates += [_text(raw[:i // 8] + bytes([raw[i // 8] ^ (1 << (i % 8))]) + raw[i // 8 + 1:])
                   for i in range(len(raw) * 8)]
    # Character-level edits, including ones that only touch base64 padding bits.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    candidates += [token[:i] + alphabet[(alphabet.index(token[i]) + 1) % 64] + token[i + 1:] for i in range(len(token))]
    assert len(candidates) >= 1000
    for candidate in candidates:
        with pytest.raises(errors.TokenError):
            store.resolve(candidate)
    assert store.resolve(token) == "features"


def test_each_failure_has_its_own_error() -> None:
    clock = Clock()
    store = _store(clock, ttl=60)
    token = store.issue("features")
    with pytest.raises(errors.MalformedToken):
        store.resolve(token[:-5])  # truncated
    with pytest.raises(errors.MalformedToken):
        store.resolve(token + "A")
    with pytest.raises(errors.ForgedToken):
        store.resolve(TokenStore(secrets.token_bytes(32), 60, clock=clock).issue("x"))  # another server's key
    raw = bytearray(_raw(token))
    raw[20] ^= 0xFF  # tamper with the expiry, keep the signature
    with pytest.raises(errors.ForgedToken):
        store.resolve(_text(bytes(raw)))
    with pytest.raises(errors.MalformedToken):
        store.resolve(None)  # type: ignore[arg-type]
    store.revoke(token)
    with pytest.raises(errors.RevokedToken):
        store.resolve(token)
    messages = {cls().user_message for cls in (errors.MalformedToken, errors.ForgedToken,
                                               errors.ExpiredToken, errors.RevokedToken)}
    assert len(messages) == 4
    assert all(issubclass(cls, PermissionError) for cls in (errors.ForgedToken, errors.ExpiredToken))


def test_an_expired_token_fails_and_its_features_are_gone() -> None:
    clock = Clock()
    store = _store(clock, ttl=60)
    token = store.issue("features")
    clock.now += 61
    with pytest.raises(errors.ExpiredToken):
        store.resolve(token)
    assert len(store) == 0
    with pytest.raises(errors.ExpiredToken):
        store.resolve(token)


def test_expired_features_are_purged_without_being_asked_for() -> None:
    clock = Clock()
    store = _store(clock, ttl=60)
    store.issue("a")
    clock.now += 30
    store.issue("b")
    clock.now += 31
    assert store.purge_expired() == 1
    assert len(store) == 1


def test_revoking_a_subject_purges_all_its_features() -> None:
    store = _store()
    tokens = [store.issue("x", subject="alice") for _ in range(3)]
    kept = store.issue("y", subject="bob")
    assert store.revoke_subject("alice") == 3
    for token in tokens:
        with pytest.raises(errors.RevokedToken):
            store.resolve(token)
    assert store.resolve(kept) == "y"


def test_token_lifetime_is_capped_at_an_hour() -> None:
    with pytest.raises(ValueError):
        TokenStore(KEY, 3601)
    store = _store()
    assert store.expires_at(store.issue("x")) - Clock().now == pytest.approx(3600, abs=0.01)
