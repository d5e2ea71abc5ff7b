"""Limits shared by every web worker through PostgreSQL: the same buckets as in memory, one
upsert per hit; the forms' signing key drawn once; SQLite keeps them in the process."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Engine, text

from fabcoord.config import Settings
from orders.limits import (
    DatabaseRateLimiter,
    Limiters,
    RateLimiter,
    hit_in_turn,
    shared_key,
    signing_key,
)
from orders.pool import limits_engine


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def bucket_engine(settings: Settings) -> Engine:
    engine = limits_engine(settings)
    yield engine  # type: ignore[misc]
    engine.dispose()


@pytest.mark.postgresql_only
def test_a_database_bucket_behaves_as_the_memory_one(bucket_engine: Engine) -> None:
    clock = Clock()
    memory = RateLimiter(3, 60.0, clock=clock)
    database = DatabaseRateLimiter(bucket_engine, 3, 60.0, clock=clock)
    seen = []
    for step in (0, 0, 0, 0, 0, 20, 0, 5, 60):
        clock.now += step
        seen.append((database.hit("a"), memory.hit("a")))
    assert [d for d, _ in seen] == [m for _, m in seen] == [0, 0, 0, 20, 20, 0, 20, 15, 0]
    assert database.hit("b") == 0  # keys are independent


@pytest.mark.postgresql_only
def test_two_processes_buckets_count_against_one_limit(bucket_engine: Engine) -> None:
    """Two limiters (as two workers hold) hitting one key at once: the capacity, not twice it."""
    limiters = [DatabaseRateLimiter(bucket_engine, 50, 3600.0) for _ in range(2)]
    allowed = []
    start = threading.Barrier(4)

    def hammer(limiter: DatabaseRateLimiter) -> None:
        start.wait()
        allowed.extend(limiter.hit("link:shared") == 0 for _ in range(40))

    threads = [threading.Thread(target=hammer, args=(limiters[n % 2],)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert allowed.count(True) == 50 and len(allowed) == 160


@pytest.mark.postgresql_only
def test_idle_buckets_are_swept(bucket_engine: Engine) -> None:
    clock = Clock()
    limiter = DatabaseRateLimiter(bucket_engine, 1, 10.0, clock=clock)
    for n in range(20):
        limiter.hit(f"k{n}")
    clock.now += 11
    limiter.hit("fresh")
    with bucket_engine.connect() as connection:
        keys = connection.execute(text("SELECT key FROM web_rate_bucket")).scalars().all()
    assert keys == ["fresh"]


@pytest.mark.postgresql_only
def test_without_a_configured_key_every_worker_signs_with_the_database_key(
    settings: Settings, engine: Engine
) -> None:
    first = signing_key(settings, engine)
    assert signing_key(settings, engine) == first == shared_key(engine)
    assert len(first) >= 32
    configured = Settings(database_url=settings.database_url, secret_key="s" * 40)  # type: ignore[arg-type]
    assert signing_key(configured, engine) == b"s" * 40


def test_limits_live_in_the_process_on_sqlite_and_in_the_database_on_postgresql(
    settings: Settings,
) -> None:
    limiters = Limiters.for_settings(settings)
    try:
        kinds = {type(limiters.per_link), type(limiters.per_address)}
    finally:
        limiters.close()
    expected = RateLimiter if settings.is_sqlite else DatabaseRateLimiter
    assert kinds == {expected}


@pytest.mark.postgresql_only
def test_a_link_then_an_address_taken_in_one_statement_as_in_two(bucket_engine: Engine) -> None:
    """The guard's two limits in one round trip: the address is taken only when the link allowed
    the request, and each answers as its own bucket would."""
    clock = Clock()
    link, address = (DatabaseRateLimiter(bucket_engine, n, 60.0, clock=clock) for n in (2, 3))
    memory = RateLimiter(2, 60.0, clock=clock), RateLimiter(3, 60.0, clock=clock)
    seen = []
    for step, key in ((0, "a"), (0, "a"), (0, "a"), (0, "b"), (0, "b"), (30, "b"), (60, "a")):
        clock.now += step
        expected = memory[0].hit(f"link:{key}") or memory[1].hit("addr:x")
        seen.append((hit_in_turn(link, f"link:{key}", address, "addr:x"), expected))
    assert [s for s, _ in seen] == [e for _, e in seen] == [0, 0, 30, 0, 20, 0, 0]
    assert hit_in_turn(RateLimiter(1, 60.0), "k", RateLimiter(1, 60.0), "k") == 0  # in memory
