"""Dispatcher behaviour under faults injected by the farm simulator (a process of its own)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from fabcoord.db import unit_of_work
from print_farm import queue
from print_farm.models import JobState
from tests.factories import ledger_snapshot
from tests.print_farm import farm_factories as ff
from tests.print_farm import farm_runs as fr
from tests.print_farm.simulator_process import SimulatorProcess


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorProcess]:
    with SimulatorProcess.running(2, "--current-interval", "0.5", ports=1) as process:
        yield process


def test_a_cancel_the_printer_refused_is_retried_until_it_takes(
    engine: Engine, simulator: SimulatorProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    simulator.set_fault(0, None)
    farm = ff.make_fablab(engine)
    monkeypatch.setenv("FABCOORD_TEST_SIM_KEY", simulator.api_key)
    printer = ff.add_printer(
        engine, farm, url=simulator.url(0), key_env="FABCOORD_TEST_SIM_KEY", auto_clear=True
    )
    ff.stock_filament(engine, farm, lot="L1", grams=200)
    ff.load(engine, printer, lot="L1", grams=200)
    [job_id] = ff.enqueue(engine, fr.dwell_design(engine, ms=60_000, grams=40), 2)
    phase: list[str] = []

    def cancelled_after_a_refusal() -> bool:
        job = ff.job(engine, job_id)
        if not phase and job.status is JobState.PRINTING:
            simulator.set_fault(0, "busy409")  # every POST, the cancel included, answers 409
            with unit_of_work(engine) as session:
                queue.cancel_job(session=session, job_id=job_id)
            phase.append("cancel asked")
        elif phase == ["cancel asked"] and "cancel of job" in ff.printer(engine, printer).notice:
            simulator.set_fault(0, None)  # the printer takes commands again
            phase.append("refused once")
        return job.status is JobState.CANCELLED

    try:
        fr.drive(
            engine,
            cancelled_after_a_refusal,
            config=fr.fast_config(retry_s=0.5),
            timeout=45,
            what="job cancelled",
        )
    finally:
        simulator.set_fault(0, None)
    assert phase == ["cancel asked", "refused once"]
    assert "cancel of job" not in ff.printer(engine, printer).notice  # taken back once it took
    job = ff.job(engine, job_id)
    assert job.attempts == 1 and job.finished_at is not None
    assert ff.qty(engine, "visor-frame", farm.stock) == 0
    scrapped = ff.qty(engine, "petg", "scrap", lot="L1")
    assert 0 <= scrapped <= 40
    assert ff.qty(engine, "petg", f"printer/{printer}", lot="L1") == 200 - scrapped


def test_a_job_that_never_starts_is_held_after_max_attempts(
    engine: Engine, simulator: SimulatorProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    simulator.set_fault(1, "silent_nostart")  # every start answers success and starts nothing
    farm = ff.make_fablab(engine)
    monkeypatch.setenv("FABCOORD_TEST_SIM_KEY", simulator.api_key)
    printer = ff.add_printer(
        engine, farm, url=simulator.url(1), key_env="FABCOORD_TEST_SIM_KEY", auto_clear=True
    )
    ff.stock_filament(engine, farm, lot="L1", grams=200)
    ff.load(engine, printer, lot="L1", grams=200)
    [job_id] = ff.enqueue(engine, fr.dwell_design(engine, ms=500, grams=40), 2)
    config = fr.fast_config(confirm_s=1.0, retry_s=0.2, max_attempts=2)
    before = ledger_snapshot(engine)
    try:
        fr.drive(engine, fr.job_is(engine, job_id, JobState.HELD), config=config, timeout=45)
    finally:
        simulator.set_fault(1, None)
    job = ff.job(engine, job_id)
    assert job.attempts == 2 and "did not start" in job.last_error
    assert job.printer_id is None and ff.printer(engine, printer).current_job_id is None
    assert ledger_snapshot(engine) == before  # nothing printed, nothing posted
