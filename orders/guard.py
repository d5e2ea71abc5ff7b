"""Plain ASGI middleware guarding the web server: rate limits and the request body size limit.

Framework-free on purpose (raw ASGI messages), so it is testable alone and ``web.py`` stays the
only module that imports the web framework. Limits held in the database are taken on a small
thread pool, never on the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from orders.limits import Limiter, hit_in_turn
from orders.pool import LIMIT_THREADS

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
log = logging.getLogger(__name__)
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),  # the secret link must not leak to other sites
    (b"cache-control", b"no-store"),
    (
        b"content-security-policy",
        b"default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        b"frame-ancestors 'none'; base-uri 'none'",
    ),
]


class Guard:
    """Refuse bursts (429 + Retry-After) per client address and per hospital link, and bodies over
    ``max_body`` bytes (413), before the application reads anything."""

    def __init__(
        self, app: ASGIApp, *, max_body: int, per_link: Limiter, per_address: Limiter
    ) -> None:
        self.app, self.max_body = app, max_body
        self.per_link, self.per_address = per_link, per_address
        blocking = per_link.blocking or per_address.blocking
        self._pool = ThreadPoolExecutor(LIMIT_THREADS, "rate-limit") if blocking else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = _with_security_headers(send)
        path: str = scope.get("path", "")
        api = path.startswith("/api/")
        client = scope.get("client") or ("unknown", 0)
        # the link first: a whole hospital may share one outgoing address, each person has a link;
        # the per-address ceiling (higher, see the README) still bounds guessed links
        token = _link_token(scope)
        if self._pool is None:
            wait = self._wait(token, str(client[0]))
        else:
            loop = asyncio.get_running_loop()
            wait = await loop.run_in_executor(self._pool, self._wait, token, str(client[0]))
        if wait:
            message = f"trop de requêtes : réessayez dans {wait} s"
            await _refuse(send, 429, message, api, [(b"retry-after", str(wait).encode())])
            return
        if scope.get("method") in {"POST", "PUT", "PATCH"}:
            body = await self._read_body(scope, receive)
            if body is None:
                await _refuse(send, 413, "requête trop volumineuse", api, [])
                return
            receive = _replay(body, receive)
        await self.app(scope, receive, send)

    def _wait(self, token: str | None, address: str) -> int:
        """Seconds to wait before the next request (0: go on); a limit that cannot be read
        (the database is away) lets the request through, which then meets the same trouble."""
        try:
            if not token:
                return self.per_address.hit(f"addr:{address}")
            link = "link:" + hashlib.sha256(token.encode()).hexdigest()
            return hit_in_turn(self.per_link, link, self.per_address, f"addr:{address}")
        except Exception as error:
            log.warning("rate limits unavailable, request let through: %s", error)
            return 0

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes | None:
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    if int(value) > self.max_body:
                        return None
                except ValueError:
                    return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def _with_security_headers(send: Send) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
        await send(message)

    return wrapped


def _link_token(scope: Scope) -> str | None:
    path: str = scope.get("path", "")
    if path.startswith("/h/"):
        return path.split("/")[2] or None
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            return credentials.strip() or None if scheme.lower() == "bearer" else None
    return None


def _replay(body: bytes, original: Receive) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return await original()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _refuse(
    send: Send, status: int, message: str, api: bool, extra: list[tuple[bytes, bytes]]
) -> None:
    if api:
        body = json.dumps({"detail": message}, ensure_ascii=False).encode()
        kind = b"application/json"
    else:
        body = f"<!doctype html><title>{status}</title><p>{message}</p>".encode()
        kind = b"text/html; charset=utf-8"
    headers = [(b"content-type", kind), (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
