"""Token buckets and CSRF tokens (no database, no web framework)."""

from __future__ import annotations

from orders.limits import CSRF_MAX_AGE_S, RateLimiter, csrf_token, csrf_valid

KEY = b"k" * 32


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_its_capacity_then_says_how_long_to_wait() -> None:
    clock = Clock()
    limiter = RateLimiter(3, 60.0, clock=clock)
    assert [limiter.hit("a") for _ in range(3)] == [0, 0, 0]
    assert limiter.hit("a") == 20  # one request every 20 s refills
    assert limiter.hit("b") == 0  # keys are independent
    clock.now += 20
    assert limiter.hit("a") == 0


def test_idle_keys_are_forgotten() -> None:
    clock = Clock()
    limiter = RateLimiter(1, 10.0, clock=clock)
    for n in range(100):
        limiter.hit(f"k{n}")
    clock.now += 11
    limiter.hit("fresh")
    assert len(limiter._buckets) == 1


def test_csrf_tokens_are_bound_to_their_scope_and_expire() -> None:
    token = csrf_token(KEY, "link-a", now=5000)
    assert csrf_valid(KEY, "link-a", token, now=5001)
    assert not csrf_valid(KEY, "link-b", token, now=5001)
    assert not csrf_valid(b"x" * 32, "link-a", token, now=5001)
    assert not csrf_valid(KEY, "link-a", token, now=5000 + CSRF_MAX_AGE_S + 1)
    assert not csrf_valid(KEY, "link-a", token, now=4000)  # issued in the future
    for forged in (None, "", "abc", "1.2", token + "0", "x" * 300):
        assert not csrf_valid(KEY, "link-a", forged, now=5001)
