"""Portrait session tokens: signed, expiring handles to features held in memory only.

Guarantees: features live in this process's memory, keyed by a random id, never on disk; a token is
HMAC-SHA256-signed and carries its expiry (at most LINLY_TOKEN_TTL_SECONDS, never over 3600 s); forged,
malformed, expired and revoked tokens fail with distinct errors; expired or revoked features are purged.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from linly_demo.audit import AuditLog
from linly_demo.config import MAX_TOKEN_TTL_SECONDS
from linly_demo.errors import ExpiredToken, ForgedToken, MalformedToken, RevokedToken

T = TypeVar("T")

_VERSION = 1
_ID_BYTES = 16
_PAYLOAD = struct.Struct(">B16sQ")  # version, random id, expiry in ms since the epoch
_SIGNATURE_BYTES = 32
_TOKEN_BYTES = _PAYLOAD.size + _SIGNATURE_BYTES


@dataclass
class _Entry(Generic[T]):
    value: T
    expires_at: float
    subject: str | None


class TokenStore(Generic[T]):
    """Issues and verifies tokens for values held in memory; thread-safe."""

    def __init__(
        self,
        key: bytes,
        ttl_seconds: float,
        audit: AuditLog | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not 0 < ttl_seconds <= MAX_TOKEN_TTL_SECONDS:
            raise ValueError("token TTL must be in (0, 3600] seconds")
        self._key = key
        self.ttl_seconds = ttl_seconds
        self._audit = audit
        self._clock = clock
        self._entries: dict[bytes, _Entry[T]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def issue(self, value: T, subject: str | None = None) -> str:
        """Hold `value` in memory and return a signed token for it that expires after the TTL."""
        entry_id = secrets.token_bytes(_ID_BYTES)
        expires_at = self._clock() + self.ttl_seconds
        payload = _PAYLOAD.pack(_VERSION, entry_id, int(expires_at * 1000))
        with self._lock:
            self._entries[entry_id] = _Entry(value, expires_at, subject)
        self._record("token.issued", "ok", subject)
        return _encode(payload + self._sign(payload))

    def resolve(self, token: str, subject: str | None = None) -> T:
        """The value behind a valid token; raises MalformedToken, ForgedToken, ExpiredToken or RevokedToken."""
        try:
            entry_id, expires_ms = self._verify(token)
            with self._lock:
                entry = self._entries.get(entry_id)
                if expires_ms / 1000 <= self._clock():
                    if entry is not None:
                        del self._entries[entry_id]
                        self._record("portrait.expired", "expired", entry.subject)
                    raise ExpiredToken()
                if entry is None:
                    raise RevokedToken()
                return entry.value
        except (MalformedToken, ForgedToken, ExpiredToken, RevokedToken) as exc:
            self._record("token.rejected", "rejected", subject, reason=exc.code)
            raise

    def expires_at(self, token: str) -> float:
        """The expiry time (epoch seconds) of a valid token."""
        self.resolve(token)
        return self._verify(token)[1] / 1000

    def revoke(self, token: str) -> bool:
        """Purge the value behind a correctly signed token at once; True if something was held."""
        entry_id, _ = self._verify(token)
        with self._lock:
            entry = self._entries.pop(entry_id, None)
        if entry is not None:
            self._record("portrait.revoked", "ok", entry.subject)
        return entry is not None

    def revoke_subject(self, subject: str) -> int:
        """Purge every value held for `subject`; returns how many."""
        with self._lock:
            doomed = [key for key, entry in self._entries.items() if entry.subject == subject]
            for key in doomed:
                del self._entries[key]
        if doomed:
            self._record("portrait.revoked", "ok", subject, count=len(doomed))
        return len(doomed)

    def purge_expired(self) -> int:
        """Drop every expired value from memory; returns how many."""
        now = self._clock()
        with self._lock:
            doomed = [(key, entry) for key, entry in self._entries.items() if entry.expires_at <= now]
            for key, _ in doomed:
                del self._entries[key]
        for _, entry in doomed:
            self._record("portrait.expired", "expired", entry.subject)
        return len(doomed)

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()

    def _verify(self, token: str) -> tuple[bytes, int]:
        raw = _decode(token)
        payload, signature = raw[: _PAYLOAD.size], raw[_PAYLOAD.size :]
        if not hmac.compare_digest(signature, self._sign(payload)):
            raise ForgedToken()
        version, entry_id, expires_ms = _PAYLOAD.unpack(payload)
        if version != _VERSION:
            raise MalformedToken()
        return entry_id, expires_ms

    def _record(self, event: str, outcome: str, subject: str | None, reason: str | None = None,
                count: int | None = None) -> None:
        if self._audit is not None:
            self._audit.record(event, outcome, subject=subject, reason=reason, count=count)


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _decode(token: object) -> bytes:
    """Strict decoding: only the canonical unpadded base64url form of exactly one token's bytes is accepted."""
    if not isinstance(token, str) or not token.isascii():
        raise MalformedToken()
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise MalformedToken() from None
    if len(raw) != _TOKEN_BYTES or _encode(raw) != token:
        raise MalformedToken()
    return raw
