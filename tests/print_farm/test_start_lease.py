"""A start whose lease went while its ``start_sent_at`` write waited on a lock is never sent.

The farm simulator (a process of its own) runs the printers. A dispatcher holds a printer's lease
and starts a claimed job on it, while another connection holds the lock that write needs; before
letting go, that connection takes the printer's lease for another dispatcher (or the dispatcher's
clock jumps past half a lease, as when its renewals fail). The start must not go out: the job is
back in the queue, its start not recorded, and the printer is not printing.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, text

from fabcoord.db import unit_of_work
from print_farm import claims, dispatch_db
from print_farm.dispatcher import Dispatcher
from print_farm.models import JobState
from tests.print_farm import farm_factories as ff
from tests.print_farm import farm_runs as fr
from tests.print_farm.simulator_process import SimulatorProcess

LEASE_S = 30.0


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorProcess]:
    with SimulatorProcess.running(2, "--current-interval", "0.5", ports=1) as process:
        yield process


Execute = Callable[[str, dict[str, object]], None]


def hold_job_lock(
    engine: Engine,
    job_id: int,
    *,
    locked: threading.Event,
    writing: threading.Event,
    meanwhile: Callable[[Execute], None],
) -> None:
    """Hold the lock the job's next write needs (SQLite: the database's write lock; PostgreSQL:
    the job's row) until that write waits on it, then run ``meanwhile`` in the same transaction
    and commit."""
    if engine.dialect.name == "sqlite":
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            locked.set()
            assert writing.wait(30), "the start's write never came"
            time.sleep(0.5)  # the write is waiting on the lock now
            meanwhile(lambda sql, params: cursor.execute(sql, params) and None)
            cursor.execute("COMMIT")
        finally:
            raw.close()
        return
    with engine.connect() as connection:
        connection.execute(
            text("SELECT id FROM farm_job WHERE id = :id FOR UPDATE"), {"id": job_id}
        )
        locked.set()
        assert writing.wait(30), "the start's write never came"
        time.sleep(0.5)  # the write is waiting on the lock now
        meanwhile(lambda sql, params: connection.execute(text(sql), params) and None)
        connection.commit()


def start_while_locked(
    engine: Engine,
    simulator: SimulatorProcess,
    monkeypatch: pytest.MonkeyPatch,
    printer_n: int,
    meanwhile: Callable[[Execute, Dispatcher, int], None],
) -> tuple[bool, int, bool]:
    """Start a claimed job on printer ``printer_n`` while its write waits on a lock; return
    whether the start was confirmed, the job's id and whether the printer is printing after."""
    printer_id, job_id = fr.one_job_on_a_simulated_printer(
        engine, simulator, printer_n, monkeypatch
    )
    dispatcher = Dispatcher(engine, fr.fast_config("d1", lease_s=LEASE_S))
    writing = threading.Event()
    write = dispatcher.db.write

    async def noted_write(work: Callable[[Any], Any]) -> Any:
        writing.set()
        return await write(work)

    monkeypatch.setattr(dispatcher.db, "write", noted_write)

    def in_lock(execute: Execute) -> None:
        meanwhile(execute, dispatcher, printer_id)

    async def scenario() -> tuple[bool, bool]:
        dispatcher.renew_leases()
        await dispatcher.step(poll_all=True, plan=False)  # follow and read the printer
        tracked = dispatcher.tracked[printer_id]
        with unit_of_work(engine) as session:
            job = claims.claim_job(
                session=session, job_id=job_id, printer_id=printer_id, owner="d1"
            )
            assert job is not None
            name = dispatch_db.job_file_name(session=session, job_id=job_id)
        locked = threading.Event()
        lock: Awaitable[None] = asyncio.to_thread(
            hold_job_lock, engine, job_id, locked=locked, writing=writing, meanwhile=in_lock
        )
        holder = asyncio.ensure_future(lock)
        await asyncio.to_thread(locked.wait, 10)
        try:
            started = await dispatcher.starter.start_job(tracked, job_id, 1, name)
        finally:
            await holder
        assert tracked.client is not None
        status = await tracked.client.job()
        if status.is_printing:
            await tracked.client.cancel()  # leave the simulator's printer idle for other tests
        await dispatcher.close()
        return started, status.is_printing

    started, printing = asyncio.run(scenario())
    return started, job_id, printing


def test_a_start_whose_lease_was_taken_while_its_write_waited_is_not_sent(
    engine: Engine, simulator: SimulatorProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    def taken(execute: Execute, _: Dispatcher, printer_id: int) -> None:
        execute("UPDATE farm_printer SET lease_owner = 'd2' WHERE id = :id", {"id": printer_id})

    started, job_id, printing = start_while_locked(engine, simulator, monkeypatch, 0, taken)
    assert not started and not printing
    job = ff.job(engine, job_id)
    assert job.status is JobState.QUEUED and job.start_sent_at is None and job.attempts == 1
    assert "no longer holds the lease" in job.last_error


def test_a_start_whose_leases_went_stale_while_its_write_waited_is_not_sent(
    engine: Engine, simulator: SimulatorProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    def stale(_: Execute, dispatcher: Dispatcher, __: int) -> None:
        # renewals failing for most of a lease: the dispatcher's clock passes half a lease
        clock = dispatcher.leases.clock
        offset = dispatcher.leases.good_until - LEASE_S / 2 - clock() + 0.1
        dispatcher.leases.clock = lambda: clock() + offset

    started, job_id, printing = start_while_locked(engine, simulator, monkeypatch, 1, stale)
    assert not started and not printing
    job = ff.job(engine, job_id)
    assert job.status is JobState.QUEUED and job.start_sent_at is None and job.attempts == 1
    assert "leases could not be renewed in time" in job.last_error
