"""Request limits that need no web framework: token buckets and signed CSRF tokens.

One server process (SQLite) keeps its buckets in memory (:class:`RateLimiter`). On PostgreSQL
the buckets are rows of ``web_rate_bucket`` (:class:`DatabaseRateLimiter`), each hit one atomic
upsert, so every worker and machine serving the intake counts against the same limits; and when
``FABCOORD_SECRET_KEY`` is unset the forms are signed with a key drawn once and kept in the
database, so a form served by one worker is accepted by another.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Engine, text

from fabcoord.config import Settings
from fabcoord.db import unit_of_work
from orders.pool import limits_engine


class Limiter(Protocol):
    """Takes one request for a key: 0 when allowed, else the seconds to wait. ``blocking``: it
    waits on the database (the caller runs it off the event loop)."""

    blocking: bool

    def hit(self, key: str) -> int: ...


class RateLimiter:
    """Token buckets: ``capacity`` requests per ``window_s`` for each key, refilled smoothly.

    Thread-safe; keys idle for a full window are forgotten so memory stays bounded.
    """

    blocking = False

    def __init__(
        self, capacity: int, window_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.capacity = capacity
        self.rate = capacity / window_s
        self.window_s = window_s
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()
        self._last_sweep = clock()

    def hit(self, key: str) -> int:
        """Take one request for ``key``: 0 when allowed, else the seconds to wait."""
        with self._lock:
            now = self._clock()
            if now - self._last_sweep > self.window_s:
                self._sweep(now)
            tokens, seen = self._buckets.get(key, (float(self.capacity), now))
            tokens = min(float(self.capacity), tokens + (now - seen) * self.rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                return max(1, math.ceil((1.0 - tokens) / self.rate))
            self._buckets[key] = (tokens - 1.0, now)
            return 0

    def _sweep(self, now: float) -> None:
        self._buckets = {
            key: value for key, value in self._buckets.items() if now - value[1] < self.window_s
        }
        self._last_sweep = now


def _take(key: str, period: str, window: str, source: str) -> str:
    """GCRA in one upsert: allowed while the next arrival time stays within a window of now."""
    return f"""
    INSERT INTO web_rate_bucket AS b (key, tat, ok) {source}
    ON CONFLICT (key) DO UPDATE SET
        ok = GREATEST(b.tat, %(now)s) + %({period})s <= %(now)s + %({window})s,
        tat = CASE WHEN GREATEST(b.tat, %(now)s) + %({period})s <= %(now)s + %({window})s
                   THEN GREATEST(b.tat, %(now)s) + %({period})s ELSE b.tat END
    RETURNING tat, ok"""


_HIT = _take("key", "period", "window", "VALUES (%(key)s, %(now)s + %(period)s, true)")
_THEN = _take(
    "then_key",
    "then_period",
    "then_window",
    "SELECT %(then_key)s, %(now)s + %(then_period)s, true FROM first WHERE first.ok",
)
# two buckets in one round trip, the second taken only when the first allowed the request
_HIT_THEN = (
    f"WITH first AS ({_HIT}), second AS ({_THEN})\n"
    "SELECT first.tat, first.ok, second.tat, second.ok FROM first LEFT JOIN second ON true"
)
_SWEEP = "DELETE FROM web_rate_bucket WHERE tat < %(now)s"


class DatabaseRateLimiter:
    """The same limit as :class:`RateLimiter` (a burst of ``capacity``, refilled smoothly over
    ``window_s``), its buckets held in PostgreSQL and shared by every process: one upsert per
    hit, atomic under the row's lock. Buckets full again (idle) are swept once per window.

    ``engine`` is :func:`orders.pool.limits_engine`'s (connections in autocommit); a hit goes
    straight to the driver, a third of the CPU of a statement through SQLAlchemy.
    """

    blocking = True

    def __init__(
        self,
        engine: Engine,
        capacity: int,
        window_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.period, self.window_s = window_s / capacity, window_s
        self._clock = clock
        self._swept = clock()

    def hit(self, key: str) -> int:
        now = self._clock()
        params = {"key": key, "now": now, "period": self.period, "window": self.window_s}
        tat, ok = self._run(_HIT, params, now)[:2]
        return self._wait(tat, ok, now)

    def hit_then(self, key: str, then: DatabaseRateLimiter, then_key: str) -> int:
        """``hit(key)``, then, when allowed, ``then.hit(then_key)`` (same engine and clock), in
        one statement: the wait of the first bucket that refused, else 0."""
        now = self._clock()
        params = {"key": key, "now": now, "period": self.period, "window": self.window_s}
        params |= {"then_key": then_key, "then_period": then.period, "then_window": then.window_s}
        tat, ok, then_tat, then_ok = self._run(_HIT_THEN, params, now)
        return self._wait(tat, ok, now) or then._wait(then_tat, then_ok, now)

    def _run(self, sql: str, params: dict[str, object], now: float) -> tuple[Any, ...]:
        connection = self.engine.raw_connection()
        try:
            cursor = connection.cursor()
            try:
                cursor.execute(sql, params)
                row = cursor.fetchone()
                assert row is not None  # an upsert with RETURNING answers one row
                if now - self._swept > self.window_s:
                    self._swept = now
                    cursor.execute(_SWEEP, {"now": now})
            finally:
                cursor.close()
        finally:
            connection.close()  # back to the pool
        return tuple(row)

    def _wait(self, tat: Any, ok: bool | None, now: float) -> int:
        if ok is None or ok:  # None: this bucket was not taken (an earlier one refused)
            return 0
        return max(1, math.ceil(float(tat) + self.period - now - self.window_s))


def hit_in_turn(first: Limiter, key: str, second: Limiter, second_key: str) -> int:
    """Take ``first``'s bucket for ``key``, then, when allowed, ``second``'s for
    ``second_key``: the seconds to wait (0: allowed). Two database limiters on one engine take
    both in one round trip."""
    if (
        isinstance(first, DatabaseRateLimiter)
        and isinstance(second, DatabaseRateLimiter)
        and first.engine is second.engine
    ):
        return first.hit_then(key, second, second_key)
    return first.hit(key) or second.hit(second_key)


@dataclass
class Limiters:
    """The per-link and per-address limits of one server process, and what they hold open."""

    per_link: Limiter
    per_address: Limiter
    engine: Engine | None = None

    @classmethod
    def for_settings(cls, settings: Settings) -> Limiters:
        """In memory on SQLite (one process); in the database on PostgreSQL."""
        window = settings.web_rate_window_s
        if settings.is_sqlite:
            return cls(
                RateLimiter(settings.web_rate_per_link, window),
                RateLimiter(settings.web_rate_per_address, window),
            )
        engine = limits_engine(settings)
        return cls(
            DatabaseRateLimiter(engine, settings.web_rate_per_link, window),
            DatabaseRateLimiter(engine, settings.web_rate_per_address, window),
            engine,
        )

    def close(self) -> None:
        if self.engine is not None:
            self.engine.dispose()


CSRF_MAX_AGE_S = 12 * 3600
SHARED_KEY = "csrf"
log = logging.getLogger(__name__)


def signing_key(settings: Settings, engine: Engine | None = None) -> bytes:
    """The key that signs the forms: ``settings.secret_key``; else, on PostgreSQL (given its
    ``engine``), one drawn once and kept in the database for every worker; else a random one for
    this process."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value().encode()
    if engine is not None and not settings.is_sqlite:
        log.info("FABCOORD_SECRET_KEY unset: the forms are signed with the database's shared key")
        return shared_key(engine)
    log.warning("FABCOORD_SECRET_KEY unset: a random key signs the forms of this process")
    return secrets.token_bytes(32)


def shared_key(engine: Engine) -> bytes:
    """The database's signing key, drawn by whichever worker asks first (PostgreSQL)."""
    with unit_of_work(engine) as session:
        session.execute(
            text(
                "INSERT INTO web_secret (name, value) VALUES (:name, :value) "
                "ON CONFLICT (name) DO NOTHING"
            ),
            {"name": SHARED_KEY, "value": secrets.token_urlsafe(48)},
        )
        value = session.execute(
            text("SELECT value FROM web_secret WHERE name = :name"), {"name": SHARED_KEY}
        ).scalar_one()
    return str(value).encode()


def csrf_token(secret: bytes, scope: str, now: float | None = None) -> str:
    """A token binding a form to ``scope`` (the link's hash), valid for ``CSRF_MAX_AGE_S``."""
    issued = str(int(time.time() if now is None else now))
    return f"{issued}.{_sign(secret, scope, issued)}"


def csrf_valid(secret: bytes, scope: str, token: str | None, now: float | None = None) -> bool:
    """Whether ``token`` was issued by :func:`csrf_token` for ``scope`` and has not expired."""
    if not token or len(token) > 200:
        return False
    issued, _, signature = token.partition(".")
    if not issued.isdigit():
        return False
    age = (time.time() if now is None else now) - int(issued)
    if not 0 <= age <= CSRF_MAX_AGE_S:
        return False
    return hmac.compare_digest(signature, _sign(secret, scope, issued))


def _sign(secret: bytes, scope: str, issued: str) -> str:
    return hmac.new(secret, f"csrf|{scope}|{issued}".encode(), hashlib.sha256).hexdigest()
