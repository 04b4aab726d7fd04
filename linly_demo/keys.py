"""The server secret and the purpose-bound keys derived from it (tokens, audit hashing, voice-store names).

The secret comes from LINLY_SECRET_KEY, or is random per process; it is never written anywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

# The purposes keys are derived for: one constant each, so two places can never spell one differently.
AUDIT_SUBJECT = "audit-subject"
PORTRAIT_TOKEN = "portrait-token"
WEB_OWNER = "web-owner"


class ServerSecret:
    """Holds the server secret in memory and derives one independent key per purpose."""

    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret if secret else secrets.token_bytes(32)

    def key_for(self, purpose: str) -> bytes:
        """A 32-byte key for `purpose`; keys for different purposes are independent."""
        return hmac.new(self._secret, b"linly-demo/v1/" + purpose.encode(), hashlib.sha256).digest()

    def __repr__(self) -> str:
        return "ServerSecret(<hidden>)"
