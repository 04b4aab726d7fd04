"""Reading the files a command-line user names, and writing the one output they choose."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from linly_demo.errors import InputRejected, LinlyError


def read_user_file(path: str, max_bytes: int, what: str) -> bytes:
    """Read at most `max_bytes` + 1 bytes of a file the user named (the caller enforces the limit)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(max_bytes + 1)
    except OSError as exc:
        raise InputRejected(f"Cannot read the {what}: {exc.strerror or 'unreadable file'}.") from None


def write_user_output(source: Path, destination: str) -> None:
    """Copy `source` to the user's chosen path atomically (temp file in the same folder, then rename), 0600."""
    target = Path(destination)
    folder = target.parent if str(target.parent) else Path(".")
    try:
        fd, temporary = tempfile.mkstemp(prefix=".linly-", suffix=".part", dir=folder)
    except OSError as exc:
        raise LinlyError(f"Cannot write the output: {exc.strerror or 'folder not writable'}.") from None
    try:
        with os.fdopen(fd, "wb") as out, open(source, "rb") as data:
            while chunk := data.read(1 << 20):
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException as exc:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise LinlyError(f"Cannot write the output: {exc.strerror or 'write failed'}.") from None
        raise
