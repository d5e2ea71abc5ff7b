"""Request limits that need no web framework: token buckets and signed CSRF tokens."""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import secrets
import threading
import time
from collections.abc import Callable

from fabcoord.config import Settings


class RateLimiter:
    """Token buckets: ``capacity`` requests per ``window_s`` for each key, refilled smoothly.

    Thread-safe; keys idle for a full window are forgotten so memory stays bounded.
    """

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


CSRF_MAX_AGE_S = 12 * 3600
log = logging.getLogger(__name__)


def signing_key(settings: Settings) -> bytes:
    """The key that signs the forms: ``settings.secret_key``, or a random one for this process."""
    if settings.secret_key is None:
        log.warning("FABCOORD_SECRET_KEY unset: a random key signs the forms of this process")
        return secrets.token_bytes(32)
    return settings.secret_key.get_secret_value().encode()


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
