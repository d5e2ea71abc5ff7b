"""A start the printer confirmed is written ``printing`` by the next pass, in the pass's one write.

The farm simulator (a process of its own) runs the printers; the dispatcher claims and starts a job
itself, then its next pass records the confirmation together with what it observed of the printers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine

from fabcoord.clock import as_utc, utc_now
from fabcoord.db import unit_of_work
from print_farm import claims, dispatch_db
from print_farm.dispatcher import Dispatcher
from print_farm.models import JobState
from tests.print_farm import farm_factories as ff
from tests.print_farm import farm_runs as fr
from tests.print_farm.simulator_process import SimulatorProcess


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorProcess]:
    with SimulatorProcess.running(2, "--current-interval", "0.5", ports=1) as process:
        yield process


def confirmed_start(
    engine: Engine,
    simulator: SimulatorProcess,
    monkeypatch: pytest.MonkeyPatch,
    printer_n: int,
    meanwhile: Callable[[int], None],
    *,
    plan: bool = False,
) -> tuple[bool, JobState, int, bool]:
    """Start a claimed 60 s job on printer ``printer_n``, run ``meanwhile(job_id)``, then one
    pass; return whether the start was confirmed, the job's state and the number of writes after
    the pass, and whether the printer is still printing."""
    printer_id, job_id = fr.one_job_on_a_simulated_printer(
        engine, simulator, printer_n, monkeypatch
    )
    dispatcher = Dispatcher(engine, fr.fast_config("d1"))
    writes = 0
    write = dispatcher.db.write

    async def counted_write(work: Callable[[Any], Any]) -> Any:
        nonlocal writes
        writes += 1
        return await write(work)

    monkeypatch.setattr(dispatcher.db, "write", counted_write)

    async def scenario() -> tuple[bool, JobState, int, bool]:
        dispatcher.renew_leases()
        await dispatcher.step(poll_all=True, plan=False)  # follow and read the printer
        tracked = dispatcher.tracked[printer_id]
        with unit_of_work(engine) as session:
            claimed = claims.claim_for_start(
                session=session, job_id=job_id, printer_id=printer_id, owner="d1"
            )
            assert claimed is not None
            assert claimed[1] == dispatch_db.job_file_name(session=session, job_id=job_id)
        started = await dispatcher.starter.start_job(tracked, job_id, *claimed)
        assert ff.job(engine, job_id).status is JobState.STARTING  # not written by the start
        meanwhile(job_id)
        before = writes
        await dispatcher.step(poll_all=plan, plan=plan)
        pass_writes = writes - before  # not those of a start the pass launched
        status = ff.job(engine, job_id).status
        assert tracked.client is not None
        for _ in range(50):  # a cancel goes through "Cancelling" first
            printing = (await tracked.client.job()).state.startswith("Printing")
            if printing:
                break
            await asyncio.sleep(0.1)
        if printing:
            await tracked.client.cancel()  # leave the simulator's printer idle for other tests
        await dispatcher.wait_for_starts()
        for other in dispatcher.tracked.values():  # a start the pass launched
            if other is not tracked and other.client is not None:
                await other.client.cancel()
        await dispatcher.close()
        return started, status, pass_writes, printing

    return asyncio.run(scenario())


def test_a_confirmed_start_is_written_printing_by_the_next_pass_in_its_one_write(
    engine: Engine, simulator: SimulatorProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    started, status, writes, printing = confirmed_start(
        engine, simulator, monkeypatch, 0, lambda _: None
    )
    assert started and printing
    assert status is JobState.PRINTING
    assert writes == 1


def test_a_confirmed_start_is_dated_when_the_printer_confirmed_it_not_when_written(
    engine: Engine, simulator: SimulatorProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[int, object]] = []

    def written_later(job_id: int) -> None:
        seen.append((job_id, utc_now()))
        time.sleep(0.3)  # the pass that writes it comes later

    started, status, _, _ = confirmed_start(engine, simulator, monkeypatch, 0, written_later)
    assert started and status is JobState.PRINTING
    [(job_id, confirmed_by)] = seen
    started_at = ff.job(engine, job_id).started_at
    assert started_at is not None and as_utc(started_at) <= confirmed_by


def test_a_confirmed_start_no_longer_ours_when_the_pass_writes_it_is_cancelled(
    engine: Engine, simulator: SimulatorProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    def requeued_by_another_dispatcher(job_id: int) -> None:
        with unit_of_work(engine) as session:
            assert claims.requeue_not_started(
                session=session, job_id=job_id, attempt=1, why="judged not started elsewhere"
            )

    started, status, _, printing = confirmed_start(
        engine, simulator, monkeypatch, 1, requeued_by_another_dispatcher
    )
    assert started
    assert status is JobState.QUEUED
    assert not printing


def test_a_pass_plans_and_claims_a_few_idle_printers_in_the_same_write_as_its_other_writes(
    engine: Engine, simulator: SimulatorProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    def another_idle_printer_with_a_job(_: int) -> None:
        _, job_id = fr.one_job_on_a_simulated_printer(engine, simulator, 1, monkeypatch)
        with unit_of_work(engine) as session:
            claims.acquire_leases(session=session, owner="d1", lease_s=30)
        planned.append(job_id)

    planned: list[int] = []
    started, status, writes, printing = confirmed_start(
        engine, simulator, monkeypatch, 0, another_idle_printer_with_a_job, plan=True
    )
    assert started and printing
    assert status is JobState.PRINTING
    assert ff.job(engine, planned[0]).status is not JobState.QUEUED  # claimed by that pass
    assert writes == 1  # the confirmation, what was observed, the plan and its claim
