"""ASGI middleware in front of Gradio: session cookie, owned uploads, checked payloads, private files, safe headers.

Guarantees: every response carries an HttpOnly, SameSite=Strict session cookie (Secure over HTTPS) when the
request had none, and the security headers (CSP, frame and sniffing protection, no referrer); uploads are
received by the app itself (random names under the ephemeral root, owned by the uploading session, nothing
partial left on failure); an event whose payload names any file that is not the session's own upload is refused
before Gradio reads it; Gradio's file routes serve only files under the ephemeral root that the requesting
session owns (everything else, traversal, malformed and outside paths included, is a 404 that says nothing about
existence); API documentation routes are not served.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Awaitable, Callable
from http.cookies import CookieError, SimpleCookie
from urllib.parse import unquote

from linly_demo.ephemeral import EphemeralRoot
from linly_demo.web.ownership import FileKind, OwnerRegistry, resolved
from linly_demo.web.payloads import MAX_EVENT_BODY, NAMED_FILE_REFUSED, refused_reference
from linly_demo.web.uploads import UploadRefused, receive_uploads

COOKIE = "linly_session"
FILE_ROUTES = ("/gradio_api/file=", "/gradio_api/file/", "/file=")
UPLOAD_ROUTES = ("/gradio_api/upload", "/upload")
UPLOAD_PROGRESS_ROUTES = ("/gradio_api/upload_progress", "/upload_progress")
# Not needed by the page or by gradio_client; the schema and docs would only map the attack surface.
HIDDEN_ROUTES = frozenset({"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/gradio_api/openapi.json",
                           "/gradio_api/docs", "/gradio_api/redoc"})
BODYLESS_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Gradio's page needs inline scripts and styles (its config is an inline script) and blob:/data: media.
_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; media-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
        "worker-src 'self' blob:; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors {}")
SPACES_FRAME_ANCESTORS = "'self' https://huggingface.co https://*.hf.space"

Scope = dict
Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]


def session_cookie(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except CookieError:  # a malformed cookie header is treated as no cookie
                continue
            if COOKIE in jar and len(jar[COOKIE].value) == 43:
                return jar[COOKIE].value
    return None


def security_headers(embeddable: bool) -> list[tuple[bytes, bytes]]:
    """The headers every response carries; `embeddable` (Hugging Face Spaces) lets the Hub frame the page."""
    headers = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
               (b"content-security-policy",
                _CSP.format(SPACES_FRAME_ANCESTORS if embeddable else "'none'").encode())]
    if not embeddable:
        headers.append((b"x-frame-options", b"DENY"))
    return headers


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


class SessionGuard:
    def __init__(self, app: Callable, registry: OwnerRegistry, ephemeral: EphemeralRoot, max_upload_bytes: int,
                 secure: bool = False, embeddable: bool = False) -> None:
        self.app = app
        self.registry = registry
        self.ephemeral = ephemeral
        self.root = os.path.realpath(ephemeral.path)
        self.max_upload_bytes = max_upload_bytes
        self.secure = secure
        self.headers = security_headers(embeddable)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = list(scope.get("headers", []))
        cookie = session_cookie(headers)
        extra = list(self.headers)
        if cookie is None:
            cookie = secrets.token_urlsafe(32)
            headers.append((b"cookie", f"{COOKIE}={cookie}".encode()))
            scope = {**scope, "headers": headers}
            extra.append(self._cookie_header(cookie))
        owner = self.registry.owner_id(cookie)
        path, method = scope.get("path", ""), scope.get("method", "GET")

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in extra}
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names or k == b"set-cookie"]
                message = {**message, "headers": kept + extra}
            await send(message)

        if path in HIDDEN_ROUTES or (path.startswith(FILE_ROUTES) and not self._may_read(path, owner)):
            await _answer(send_with_headers, 404, b"Not found")
            return
        if path in UPLOAD_ROUTES and method == "POST":
            await self._upload(scope, receive, send_with_headers, owner)
            return
        if path in UPLOAD_PROGRESS_ROUTES:
            # Uploads are stored by the app before its answer, so their progress is always already complete.
            await _answer(send_with_headers, 200, b'data: {"msg": "done"}\n\n', b"text/event-stream")
            return
        if method not in BODYLESS_METHODS:
            body = await _read_body(receive, MAX_EVENT_BODY)
            if body is None:
                await _answer_json(send_with_headers, 413, "The request is too large.")
                return
            if refused_reference(body, owner, self.registry):
                await _answer_json(send_with_headers, 400, NAMED_FILE_REFUSED)
                return
            receive = _replay(body, receive)
        await self.app(scope, receive, send_with_headers)

    def _may_read(self, path: str, owner: str) -> bool:
        prefix = next(p for p in FILE_ROUTES if path.startswith(p))
        target = unquote(path[len(prefix):])
        full = resolved(target if os.path.isabs(target) else os.path.join(self.root, target))
        if full is None or not full.startswith(self.root + os.sep):
            return False
        return self.registry.owner_of(full) == owner

    async def _upload(self, scope: Scope, receive: Receive, send: Send, owner: str) -> None:
        try:
            paths = await receive_uploads(_header(scope, b"content-type") or "", _header(scope, b"content-length"),
                                          receive, self.ephemeral, self.max_upload_bytes)
        except UploadRefused as refused:
            await _answer_json(send, refused.status, refused.message)
            return
        for stored in paths:
            self.registry.claim(stored, owner, FileKind.UPLOAD)
        await _answer(send, 200, json.dumps([str(p) for p in paths]).encode(), b"application/json")

    def _cookie_header(self, cookie: str) -> tuple[bytes, bytes]:
        attributes = f"{COOKIE}={cookie}; Path=/; HttpOnly; SameSite=Strict" + ("; Secure" if self.secure else "")
        return (b"set-cookie", attributes.encode())


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None when it is larger than `limit`."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive channel that yields the already-read body once, then whatever the client sends next."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> dict:
        return pending.pop() if pending else await receive()

    return replayed


async def _answer(send: Send, status: int, body: bytes, content_type: bytes = b"text/plain; charset=utf-8") -> None:
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", content_type)]})
    await send({"type": "http.response.body", "body": body})


async def _answer_json(send: Send, status: int, message: str) -> None:
    await _answer(send, status, json.dumps({"detail": message, "error": message}).encode(), b"application/json")
