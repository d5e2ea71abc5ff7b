"""A print's outcome and the printer's next job are written by one pass, in one write.

The farm simulator (a process of its own) runs the printer; the dispatcher starts the first job,
the print ends, and the pass that records it also claims the next queued job for that printer.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine

from print_farm.dispatcher import Dispatcher
from print_farm.errors import OctoPrintError
from print_farm.models import JobState
from print_farm.tracking import is_idle
from tests.print_farm import farm_factories as ff
from tests.print_farm import farm_runs as fr
from tests.print_farm.simulator_process import SimulatorProcess


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorProcess]:
    with SimulatorProcess.running(1, "--current-interval", "0.2", ports=1) as process:
        yield process


def test_the_pass_recording_a_print_s_end_claims_the_printer_s_next_job_in_the_same_write(
    engine: Engine, simulator: SimulatorProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    farm = ff.make_fablab(engine)
    monkeypatch.setenv("FABCOORD_TEST_SIM_KEY", simulator.api_key)
    name = ff.add_printer(
        engine, farm, url=simulator.url(0), key_env="FABCOORD_TEST_SIM_KEY", auto_clear=True
    )
    ff.stock_filament(engine, farm, lot="L1", grams=100)
    ff.load(engine, name, lot="L1", grams=100)
    first, second = ff.enqueue(engine, fr.dwell_design(engine, ms=1000, grams=10), 4)
    dispatcher = Dispatcher(engine, fr.fast_config("d1", lease_s=30.0))
    writes = 0
    write = dispatcher.db.write

    async def counted_write(work: Callable[[Any], Any]) -> Any:
        nonlocal writes
        writes += 1
        return await write(work)

    monkeypatch.setattr(dispatcher.db, "write", counted_write)

    async def scenario() -> int:
        dispatcher.renew_leases()
        await dispatcher.step(poll_all=True)  # follows the printer, claims and starts the first
        await dispatcher.wait_for_starts()
        assert ff.job(engine, second).status is JobState.QUEUED
        [tracked] = dispatcher.tracked.values()
        deadline = time.monotonic() + 30
        while not (tracked.done_file and is_idle(tracked.state)):  # the print ended
            assert time.monotonic() < deadline, tracked.state
            await asyncio.sleep(0.05)
        dispatcher.renew_leases()  # fresh, however long the print took on a loaded machine
        before = writes
        await dispatcher.step()
        pass_writes = writes - before  # not the start it launched
        await dispatcher.wait_for_starts()
        assert tracked.client is not None
        with contextlib.suppress(OctoPrintError):  # leave the simulator's printer idle
            await tracked.client.cancel()
        await dispatcher.close()
        return pass_writes

    pass_writes = asyncio.run(scenario())
    assert ff.job(engine, first).status is JobState.DONE
    assert ff.job(engine, second).status is not JobState.QUEUED  # claimed by that pass
    assert pass_writes == 1
