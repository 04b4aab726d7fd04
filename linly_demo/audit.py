"""De-identified audit log: one JSON line per event.

A line holds only: event name, UTC time, outcome, duration, a fixed reason code, a count, a keyed hash of the
subject (user/session) id and a keyed hash of a render id. It never holds file names, paths, raw ids,
embeddings, image data or exception text.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import sys
import threading
import time
from datetime import UTC, datetime
from typing import TextIO

_SAFE_WORD = re.compile(r"^[a-z][a-z0-9_.]{0,63}$")
_KEYED_HASH = re.compile(r"^[0-9a-f]{24}$")
OUTCOMES = frozenset({"ok", "rejected", "refused", "failed", "expired"})


class AuditLog:
    """Writes de-identified audit lines to a path (append) or to stderr (`-`)."""

    def __init__(self, destination: str, subject_key: bytes) -> None:
        self._destination = destination
        self._subject_key = subject_key
        self._lock = threading.Lock()

    def subject_hash(self, subject_id: str | None) -> str | None:
        """The keyed hash of a raw subject id: stable within one server secret, irreversible without it."""
        if subject_id is None:
            return None
        return hmac.new(self._subject_key, subject_id.encode(), hashlib.sha256).hexdigest()[:24]

    def record(
        self,
        event: str,
        outcome: str = "ok",
        subject: str | None = None,
        duration_s: float | None = None,
        reason: str | None = None,
        count: int | None = None,
        render: str | None = None,
    ) -> None:
        """Append one line; `event` and `reason` must be fixed identifiers, `subject` a raw id that gets hashed,
        `render` an already keyed hash of a render id (24 hex digits: see linly_demo.provenance)."""
        if not _SAFE_WORD.match(event) or (reason is not None and not _SAFE_WORD.match(reason)):
            raise ValueError("audit event and reason must be fixed identifiers")
        if render is not None and not _KEYED_HASH.match(render):
            raise ValueError("audit render must be a keyed hash")
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown audit outcome {outcome!r}")
        line: dict[str, object] = {
            "event": event,
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "outcome": outcome,
        }
        if duration_s is not None:
            line["duration_ms"] = round(duration_s * 1000, 1)
        if reason is not None:
            line["reason"] = reason
        if count is not None:
            line["count"] = int(count)
        if render is not None:
            line["render"] = render
        hashed = self.subject_hash(subject)
        if hashed is not None:
            line["subject"] = hashed
        self._write(json.dumps(line, separators=(",", ":")))

    def _write(self, text: str) -> None:
        with self._lock:
            if self._destination == "-":
                self._emit(sys.stderr, text)
                return
            fd = os.open(self._destination, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as handle:
                self._emit(handle, text)

    def holds(self, field: str, value: str) -> bool | None:
        """Whether any line has `field` equal to `value`; None when the log goes to stderr (nothing to read)."""
        if self._destination == "-":
            return None
        needle = f'"{field}":"{value}"'
        try:
            with open(self._destination, encoding="utf-8") as handle:
                return any(needle in line for line in handle)
        except FileNotFoundError:
            return False

    @staticmethod
    def _emit(stream: TextIO, text: str) -> None:
        stream.write(text + "\n")
        stream.flush()


class Stopwatch:
    """Measures one duration for an audit line."""

    def __init__(self) -> None:
        self.started = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

