"""The database write-locked for longer than a lease while a dispatcher drives printers.

The farm simulator (a process of its own) runs four printers sending push events every 0.2 s. A
dispatcher holds them all and prints a queue; a rival dispatcher runs beside it. Another
connection then takes the database's write lock (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: every
table locked ``IN EXCLUSIVE MODE``) and holds it for 1.5 leases. Nobody can renew a lease then.
Asserted: push events kept being handled during the lock; the holder kept every printer and the
rival never held one (no printer is driven by two dispatchers); every job ran to its end and was
posted once.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from fabcoord.db import reader
from print_farm.dispatcher import Dispatcher
from print_farm.models import JobState
from print_farm.push import PushSubscription
from tests.print_farm import farm_factories as ff
from tests.print_farm import farm_runs as fr
from tests.print_farm.simulator_process import SimulatorProcess

PRINTERS = 4
LEASE_S = 3.0
LOCK_S = 1.5 * LEASE_S


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorProcess]:
    # a ``current`` every 0.2 s under the dispatcher's throttle (× 4), as OctoPrint would send
    # them: the events the test counts while the database is locked
    with SimulatorProcess.running(PRINTERS, "--current-interval", "0.05", ports=1) as process:
        yield process


def hold_write_lock(engine: Engine, seconds: float, locked: threading.Event) -> None:
    """Take the whole database's write lock for ``seconds`` (on the calling thread)."""
    if engine.dialect.name == "sqlite":
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            locked.set()
            time.sleep(seconds)
            cursor.execute("ROLLBACK")
        finally:
            raw.close()
        return
    with engine.connect() as connection:
        tables = connection.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        ).scalars()
        names = ", ".join(f'"{name}"' for name in tables)
        for _ in range(20):  # the tables are locked one by one: a writer may deadlock it
            try:
                connection.execute(text(f"LOCK TABLE {names} IN EXCLUSIVE MODE"))
                break
            except OperationalError:
                connection.rollback()
        locked.set()
        time.sleep(seconds)
        connection.rollback()


def lease_owners(engine: Engine) -> set[str]:
    with reader(engine).connect() as connection:  # a plain read: the lock lets it through
        return set(connection.execute(text("SELECT lease_owner FROM farm_printer")).scalars())


def test_a_write_lock_longer_than_the_lease_loses_no_lease_and_stops_no_event(
    engine: Engine, simulator: SimulatorProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    farm = ff.make_fablab(engine)
    monkeypatch.setenv("FABCOORD_TEST_SIM_KEY", simulator.api_key)
    names = [
        ff.add_printer(
            engine, farm, url=simulator.url(n), key_env="FABCOORD_TEST_SIM_KEY", auto_clear=True
        )
        for n in range(PRINTERS)
    ]
    ff.stock_filament(engine, farm, lot="L1", grams=2000)
    for name in names:
        ff.load(engine, name, lot="L1", grams=400)
    job_ids = ff.enqueue(engine, fr.dwell_design(engine, ms=2500, units=1, grams=5), 12)
    handled: list[float] = []  # every push message read and handled, heartbeats included
    dispatch = PushSubscription._dispatch

    async def counted(self: PushSubscription, message: dict[str, Any]) -> None:
        await dispatch(self, message)
        handled.append(time.monotonic())

    monkeypatch.setattr(PushSubscription, "_dispatch", counted)
    config = fr.fast_config("holder", lease_s=LEASE_S, backoff_max_s=1.0)
    holder = Dispatcher(engine, config)
    rival = Dispatcher(engine, fr.fast_config("rival", lease_s=LEASE_S, backoff_max_s=1.0))
    owners_seen: set[str] = set()
    fresh_seen: set[bool] = set()  # whether the holder's leases allowed starts, while locked
    lease_reads_in_lock: list[int] = []
    window: list[float] = []

    async def scenario() -> None:
        stop = asyncio.Event()
        first = asyncio.create_task(holder.run(stop=stop))
        await until(lambda: len(holder.leases.owned) == PRINTERS, "the holder leases all")
        second = asyncio.create_task(rival.run(stop=stop))
        await until(lambda: len(done()) >= 2, "two prints done before the lock")
        watcher = asyncio.create_task(watch_leases(stop))
        locked = threading.Event()
        lock = asyncio.create_task(asyncio.to_thread(hold_write_lock, engine, LOCK_S, locked))
        await asyncio.to_thread(locked.wait, 10)
        window.append(time.monotonic())
        await lock
        window.append(time.monotonic())
        await until(lambda: len(done()) == len(job_ids), "every job done after the lock", 90)
        assert holder.leases.owned == set(holder.rows) and len(holder.leases.owned) == PRINTERS
        assert rival.leases.owned == set() and not rival.stats
        stop.set()
        await asyncio.gather(first, second, watcher)

    async def watch_leases(stop: asyncio.Event) -> None:
        while not stop.is_set():
            owners_seen.update(await asyncio.to_thread(lease_owners, engine))
            if len(window) == 1:
                fresh_seen.add(holder.leases.fresh())
                lease_reads_in_lock.append(1)
            await asyncio.sleep(0.1)

    def done() -> list[int]:
        with reader(engine).connect() as connection:
            return list(
                connection.execute(
                    text("SELECT id FROM farm_job WHERE status = :s"), {"s": JobState.DONE.value}
                ).scalars()
            )

    async def until(condition: object, what: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not await asyncio.to_thread(condition):  # type: ignore[arg-type]
            assert time.monotonic() < deadline, f"timed out: {what}: {fr.status(engine)}"
            await asyncio.sleep(0.1)

    asyncio.run(scenario())
    start, end = window
    during = [moment for moment in handled if start <= moment <= end]
    gaps = [b - a for a, b in zip([start, *during], [*during, end], strict=True)]
    assert len(during) >= 2 * PRINTERS * LOCK_S  # about 5 a second a printer were sent
    assert max(gaps) < LEASE_S / 2, max(gaps)  # handled all along the lock, not after it
    assert fresh_seen == {True, False}  # the lock outlived half a lease: starts were stopped
    assert len(lease_reads_in_lock) >= 10  # the leases were watched all along the lock
    assert owners_seen == {"holder"}  # never the rival's, never free: no printer changed hands
    outputs = fr.postings(engine, "print_output")
    assert sorted(int(doc) for doc, _ in outputs) == sorted(job_ids)  # each job posted once
    assert ff.jobs_by_status(engine) == {JobState.DONE: len(job_ids)}
