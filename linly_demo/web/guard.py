"""ASGI middleware: a per-browser session cookie, and files served only to the session that owns them.

Guarantees: every response carries an HttpOnly, SameSite=Strict session cookie (Secure over HTTPS) when the
request had none; Gradio's file routes serve only files under the ephemeral root that the requesting session
owns (everything else, traversal and outside paths included, is a 404 that says nothing about existence);
uploads are recorded as owned by the session that uploaded them.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Awaitable, Callable
from http.cookies import SimpleCookie
from urllib.parse import unquote

from linly_demo.web.ownership import OwnerRegistry

COOKIE = "linly_session"
FILE_ROUTES = ("/gradio_api/file=", "/gradio_api/file/", "/file=")
UPLOAD_ROUTES = ("/gradio_api/upload",)

Scope = dict
Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]


def session_cookie(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == b"cookie":
            jar = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # a malformed cookie header is treated as no cookie
                continue
            if COOKIE in jar and len(jar[COOKIE].value) == 43:
                return jar[COOKIE].value
    return None


class SessionGuard:
    def __init__(self, app: Callable, registry: OwnerRegistry, ephemeral_root: str, secure: bool = False) -> None:
        self.app = app
        self.registry = registry
        self.root = os.path.realpath(ephemeral_root)
        self.secure = secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = list(scope.get("headers", []))
        cookie = session_cookie(headers)
        fresh = cookie is None
        if fresh:
            cookie = secrets.token_urlsafe(32)
            headers.append((b"cookie", f"{COOKIE}={cookie}".encode()))
            scope = {**scope, "headers": headers}
        owner = self.registry.owner_id(cookie)
        path = scope.get("path", "")

        if path.startswith(FILE_ROUTES) and not self._may_read(path, owner):
            await _not_found(send, self._cookie_header(cookie) if fresh else None)
            return

        capture = path in UPLOAD_ROUTES and scope.get("method") == "POST"
        body: list[bytes] = []

        async def send_with_cookie(message: dict) -> None:
            if message["type"] == "http.response.start" and fresh:
                message = {**message, "headers": list(message.get("headers", [])) + [self._cookie_header(cookie)]}
            if capture and message["type"] == "http.response.body":
                body.append(message.get("body", b""))
                if not message.get("more_body"):
                    self._claim_uploads(b"".join(body), owner)
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _may_read(self, path: str, owner: str) -> bool:
        for prefix in FILE_ROUTES:
            if path.startswith(prefix):
                target = unquote(path[len(prefix):])
                break
        resolved = os.path.realpath(target if os.path.isabs(target) else os.path.join(self.root, target))
        if not resolved.startswith(self.root + os.sep):
            return False
        return self.registry.owner_of(resolved) == owner

    def _claim_uploads(self, body: bytes, owner: str) -> None:
        try:
            paths = json.loads(body)
        except ValueError:
            return
        for path in paths if isinstance(paths, list) else []:
            if isinstance(path, str) and os.path.realpath(path).startswith(self.root + os.sep):
                self.registry.claim(path, owner)

    def _cookie_header(self, cookie: str) -> tuple[bytes, bytes]:
        attributes = f"{COOKIE}={cookie}; Path=/; HttpOnly; SameSite=Strict" + ("; Secure" if self.secure else "")
        return (b"set-cookie", attributes.encode())


async def _not_found(send: Send, cookie_header: tuple[bytes, bytes] | None) -> None:
    headers = [(b"content-type", b"text/plain; charset=utf-8")] + ([cookie_header] if cookie_header else [])
    await send({"type": "http.response.start", "status": 404, "headers": headers})
    await send({"type": "http.response.body", "body": b"Not found"})
