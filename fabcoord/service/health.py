"""``/healthz`` and ``/readyz`` in front of the web application (plain ASGI, no web framework).

- ``/healthz``: the process answers (200), with its pid and the parts' states;
- ``/readyz``: 200 when the database answers, every other part is alive (running; a part that
  beats has beaten recently) and every registered check passes (the hand-off outbox's lag under
  its bound…), else 503; JSON either way, each check with its detail.

Answered before the rate limits: a load balancer probes often, from one address.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, text

from fabcoord.config import Settings
from fabcoord.db import make_engine
from fabcoord.service.board import Board
from fabcoord.service.parts import Check, run_check

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
PATHS = ("/healthz", "/readyz")
FRESH_S = 1.0  # a readiness answer is reused this long: probes never pile up on the database
PROBE_WAIT_S = 2.0


@dataclass(frozen=True)
class HealthConfig:
    """What ``/readyz`` looks at; picklable into a web worker process being started."""

    settings: Settings
    board: Board
    checks: tuple[tuple[str, str], ...] = ()


class Health:
    """ASGI middleware answering ``/healthz`` and ``/readyz``; everything else goes to ``app``."""

    def __init__(self, app: ASGIApp, *, config: HealthConfig) -> None:
        self.app, self.config = app, config
        self.started = time.monotonic()
        self._engine: Engine | None = None
        self._lock = threading.Lock()
        self._last: tuple[float, bool, dict[str, Any]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path")
        if scope["type"] != "http" or path not in PATHS:
            if scope["type"] == "lifespan":
                await self._lifespan(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        if path == "/healthz":
            body = {
                "status": "alive",
                "pid": os.getpid(),
                "up_s": round(time.monotonic() - self.started, 1),
                "parts": {s.name: s.public() for s in self.config.board.read()},
            }
            await _answer(send, 200, body)
            return
        ready, checks = await asyncio.to_thread(self.readiness)
        body = {"status": "ready" if ready else "not ready", "pid": os.getpid(), "checks": checks}
        await _answer(send, 200 if ready else 503, body)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def sent(message: Message) -> None:
            if message["type"] == "lifespan.shutdown.complete":
                self.close()
            await send(message)

        await self.app(scope, receive, sent)

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        """Run the checks (or reuse an answer under ``FRESH_S`` old)."""
        with self._lock:
            now = time.monotonic()
            if self._last is not None and now - self._last[0] < FRESH_S:
                return self._last[1], self._last[2]
            checks: dict[str, Check] = {"database": self._database()}
            for status in self.config.board.read():
                if status.name != "web":  # this answer is the web part's proof of life
                    checks[status.name] = Check(status.alive, _describe(status.public()))
            for name, target in self.config.checks:
                checks[name] = self._check(target) if checks["database"].ok else _skipped()
            ready = all(check.ok for check in checks.values())
            public = {name: {"ok": c.ok, "detail": c.detail} for name, c in checks.items()}
            self._last = (now, ready, public)
            return ready, public

    def _database(self) -> Check:
        try:
            with self.engine().connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception as error:
            return Check(False, f"unreachable: {_first_line(error)}")
        return Check(True, "reachable")

    def _check(self, target: str) -> Check:
        try:
            return run_check(target, self.config.settings, self.engine())
        except Exception as error:
            return Check(False, f"check failed: {_first_line(error)}")

    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(
                self.config.settings, wait_s=PROBE_WAIT_S, pool_size=1, max_overflow=1
            )
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


def _describe(public: dict[str, Any]) -> str:
    beat = public["last_beat_s"]
    beaten = f", last beat {beat} s ago" if beat is not None else ""
    return f"{public['state']} for {public['for_s']} s, {public['restarts']} restart(s){beaten}"


def _skipped() -> Check:
    return Check(False, "not checked: the database is unreachable")


def _first_line(error: Exception) -> str:
    text_ = str(getattr(error, "orig", None) or error).strip()
    return (text_.splitlines() or [type(error).__name__])[0][:300]


async def _answer(send: Send, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body, ensure_ascii=False).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(data)).encode()),
        (b"cache-control", b"no-store"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})
