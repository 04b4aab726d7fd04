"""The upload route, owned by the app: a multipart body streamed straight into the ephemeral root.

Guarantees: every uploaded file is written under the ephemeral root with a random name (never the browser's
file name, never a content hash; only an allow-listed extension is kept so previews play), mode 0600; no file
is larger than the limit and no request carries more than a few files; on any failure (too large, malformed,
full storage, client gone) every file this request wrote is deleted before the error is answered, so nothing
partial is left behind.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from python_multipart.multipart import MultipartParser, parse_options_header

from linly_demo.ephemeral import EphemeralRoot, storage_full

MAX_FILES_PER_REQUEST = 4
# Extensions a preview in the browser needs; anything else is stored without one.
KEPT_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus",
                           ".m4a", ".aac", ".mp4", ".webm", ".mkv"})
_FIELD_LIMIT = 1024

Receive = Callable[[], Awaitable[dict]]


class UploadRefused(Exception):
    """An upload that was not stored; `message` is safe to show."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _too_large(max_bytes: int) -> UploadRefused:
    return UploadRefused(413, f"The file is larger than the upload limit of {max_bytes / 2**20:g} MB.")


class _PartWriter:
    """Callbacks for python-multipart: each `files` part goes to a new file under the ephemeral root."""

    def __init__(self, ephemeral: EphemeralRoot, max_bytes: int) -> None:
        self.ephemeral = ephemeral
        self.max_bytes = max_bytes
        self.written: list[Path] = []
        self.error: UploadRefused | None = None
        self._header_name = b""
        self._header_value = b""
        self._disposition = b""
        self._fd: int | None = None
        self._size = 0

    def callbacks(self) -> Any:  # python-multipart's MultipartCallbacks
        return {"on_part_begin": self._begin, "on_header_field": self._field, "on_header_value": self._value,
                "on_header_end": self._header_end, "on_headers_finished": self._headers_done,
                "on_part_data": self._data, "on_part_end": self._end}

    def _begin(self) -> None:
        self._disposition = b""

    def _field(self, data: bytes, start: int, end: int) -> None:
        self._header_name = (self._header_name + data[start:end])[:_FIELD_LIMIT]

    def _value(self, data: bytes, start: int, end: int) -> None:
        self._header_value = (self._header_value + data[start:end])[:_FIELD_LIMIT]

    def _header_end(self) -> None:
        if self._header_name.lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name = self._header_value = b""

    def _headers_done(self) -> None:
        _kind, options = parse_options_header(self._disposition)
        if options.get(b"name") != b"files" or b"filename" not in options or self.error:
            return
        if len(self.written) >= MAX_FILES_PER_REQUEST:
            self.error = UploadRefused(400, f"Please upload at most {MAX_FILES_PER_REQUEST} files at once.")
            return
        suffix = os.path.splitext(options[b"filename"].decode("utf-8", "replace"))[1].lower()
        target = self.ephemeral.new_name(suffix if suffix in KEPT_SUFFIXES else "")
        try:
            self._fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            self.error = _storage_error(exc)
            return
        self.written.append(target)
        self._size = 0

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._fd is None or self.error:
            return
        self._size += end - start
        if self._size > self.max_bytes:
            self.error = _too_large(self.max_bytes)
            return
        try:
            os.write(self._fd, data[start:end])
        except OSError as exc:
            self.error = _storage_error(exc)

    def _end(self) -> None:
        self.close()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def discard(self) -> None:
        self.close()
        for path in self.written:
            self.ephemeral.delete(path)
        self.written.clear()


def _storage_error(exc: OSError) -> UploadRefused:
    if storage_full(exc):
        return UploadRefused(503, "The server is busy right now (temporary storage is full). Please try again "
                                  "in a minute.")
    return UploadRefused(500, "The upload could not be stored. Please try again.")


async def receive_uploads(content_type: str, content_length: str | None, receive: Receive,
                          ephemeral: EphemeralRoot, max_bytes: int) -> list[Path]:
    """Stream a multipart upload into the ephemeral root; every file written is deleted again on any failure."""
    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise UploadRefused(400, "Please upload the file with the app's upload button.")
    body_limit = MAX_FILES_PER_REQUEST * (max_bytes + 64 * 1024)
    if content_length is not None and (not content_length.isdigit() or int(content_length) > body_limit):
        raise _too_large(max_bytes)
    writer = _PartWriter(ephemeral, max_bytes)
    parser = MultipartParser(boundary, writer.callbacks())
    received = 0
    try:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise UploadRefused(400, "The upload was interrupted.")
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > body_limit:
                raise _too_large(max_bytes)
            try:
                parser.write(chunk)
            except Exception:  # python-multipart's own parse errors: the body is not valid multipart
                raise UploadRefused(400, "The upload was malformed. Please try again.") from None
            if writer.error:
                raise writer.error
            if not message.get("more_body"):
                break
        parser.finalize()
        writer.close()
        if not writer.written:
            raise UploadRefused(400, "No file was uploaded.")
        return list(writer.written)
    except BaseException:
        writer.discard()
        raise
