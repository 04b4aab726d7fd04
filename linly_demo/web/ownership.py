"""Who may fetch which file: every served file under the ephemeral root belongs to one browser session.

Guarantees: owners are recorded as keyed hashes of the session cookie (never the cookie itself); paths are
compared after resolving symlinks; a path with no owner belongs to nobody (it is never served).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
from pathlib import Path


class OwnerRegistry:
    """Thread-safe map from resolved file path to the owning session's cookie digest."""

    def __init__(self, key: bytes) -> None:
        self._key = key
        self._owners: dict[str, str] = {}
        self._lock = threading.Lock()

    def owner_id(self, cookie: str) -> str:
        return hmac.new(self._key, cookie.encode(), hashlib.sha256).hexdigest()

    def claim(self, path: str | os.PathLike[str], owner: str) -> None:
        with self._lock:
            self._owners[os.path.realpath(path)] = owner

    def owner_of(self, path: str | os.PathLike[str]) -> str | None:
        with self._lock:
            return self._owners.get(os.path.realpath(path))

    def forget(self, path: str | os.PathLike[str]) -> None:
        with self._lock:
            self._owners.pop(os.path.realpath(path), None)

    def paths_of(self, owner: str) -> list[Path]:
        with self._lock:
            return [Path(p) for p, o in self._owners.items() if o == owner]

    def release(self, owner: str) -> list[Path]:
        """Forget and return every path the owner holds."""
        with self._lock:
            paths = [p for p, o in self._owners.items() if o == owner]
            for path in paths:
                del self._owners[path]
        return [Path(p) for p in paths]

    def prune(self) -> None:
        """Forget paths that no longer exist (expired or deleted)."""
        with self._lock:
            for path in [p for p in self._owners if not os.path.lexists(p)]:
                del self._owners[path]
