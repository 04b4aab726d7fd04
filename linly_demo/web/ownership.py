"""Who may use which file: every file under the ephemeral root that the web app knows belongs to one browser session.

Guarantees: owners are recorded as keyed hashes of the session cookie (never the cookie itself); paths are
compared after resolving symlinks; a path with no owner belongs to nobody (it is never served and never reaches
a handler); an upload is told apart from an output, so only a session's own uploads may be handed to a handler.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
from dataclasses import dataclass
from enum import Enum
from pathlib import Path


class FileKind(Enum):
    UPLOAD = "upload"  # bytes a browser sent through the upload route
    OUTPUT = "output"  # a file the app made for a session (aligned face, video)


@dataclass(frozen=True)
class Claim:
    owner: str
    kind: FileKind


def resolved(path: str | os.PathLike[str]) -> str | None:
    """The symlink-free absolute form of `path`, or None for a malformed one (NUL bytes, not a string)."""
    try:
        return os.path.realpath(path)
    except (TypeError, ValueError, OSError):
        return None


class OwnerRegistry:
    """Thread-safe map from resolved file path to the owning session's cookie digest and the file's kind."""

    def __init__(self, key: bytes) -> None:
        self._key = key
        self._claims: dict[str, Claim] = {}
        self._lock = threading.Lock()

    def owner_id(self, cookie: str) -> str:
        return hmac.new(self._key, cookie.encode(), hashlib.sha256).hexdigest()

    def claim(self, path: str | os.PathLike[str], owner: str, kind: FileKind = FileKind.OUTPUT) -> None:
        key = resolved(path)
        if key is None:
            raise ValueError("malformed path")
        with self._lock:
            self._claims[key] = Claim(owner, kind)

    def owner_of(self, path: str | os.PathLike[str]) -> str | None:
        key = resolved(path)
        with self._lock:
            claim = self._claims.get(key) if key else None
        return claim.owner if claim else None

    def is_upload_of(self, path: str | os.PathLike[str], owner: str) -> bool:
        """True only for a file this session uploaded (not an output, not another session's file)."""
        key = resolved(path)
        with self._lock:
            claim = self._claims.get(key) if key else None
        return claim == Claim(owner, FileKind.UPLOAD)

    def forget(self, path: str | os.PathLike[str]) -> None:
        key = resolved(path)
        with self._lock:
            if key:
                self._claims.pop(key, None)

    def paths_of(self, owner: str) -> list[Path]:
        with self._lock:
            return [Path(p) for p, claim in self._claims.items() if claim.owner == owner]

    def release(self, owner: str) -> list[Path]:
        """Forget and return every path the owner holds."""
        with self._lock:
            paths = [p for p, claim in self._claims.items() if claim.owner == owner]
            for path in paths:
                del self._claims[path]
        return [Path(p) for p in paths]

    def prune(self) -> None:
        """Forget paths that no longer exist (expired or deleted)."""
        with self._lock:
            for path in [p for p in self._claims if not os.path.lexists(p)]:
                del self._claims[path]
