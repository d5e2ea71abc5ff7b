"""The simulator's injected faults surface as the same typed errors the client raises for real servers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from print_farm.errors import (
    OctoPrintStarting,
    PrintDidNotStart,
    PrinterBusy,
    PrinterUnreachable,
)
from print_farm.octoprint import OctoPrintClient
from print_farm.simulator.printer import dwell_seconds
from tests.print_farm.conftest import SIMULATED_PRINTERS, reset_printer
from tests.print_farm.octoprint_servers import dwell_gcode
from tests.print_farm.simulator_process import SimulatorProcess

FAULTY = SIMULATED_PRINTERS - 1  # the last simulated printer is kept for fault tests


@pytest.fixture
def faulty(farm_simulator: SimulatorProcess) -> Iterator[OctoPrintClient]:
    farm_simulator.set_fault(FAULTY, None)

    async def reset() -> None:
        async with OctoPrintClient(farm_simulator.url(FAULTY), farm_simulator.api_key) as client:
            await reset_printer(client)

    asyncio.run(reset())
    yield OctoPrintClient(farm_simulator.url(FAULTY), farm_simulator.api_key, timeout=0.5)
    farm_simulator.set_fault(FAULTY, None)


def test_dwell_lines_give_the_print_time() -> None:
    assert dwell_seconds(b"G90\nG4 P1500\n g4 s2\nG1 X1\nG4 P500 ; wait\n") == pytest.approx(4.0)
    assert dwell_seconds(b"G1 X4\n") == 0.0


def test_hanging_printer_times_out_as_unreachable(
    farm_simulator: SimulatorProcess, faulty: OctoPrintClient
) -> None:
    farm_simulator.set_fault(FAULTY, "hang")

    async def scenario() -> None:
        async with faulty:
            with pytest.raises(PrinterUnreachable, match="timed out"):
                await faulty.job()

    asyncio.run(scenario())


def test_reset_connection_is_unreachable(
    farm_simulator: SimulatorProcess, faulty: OctoPrintClient
) -> None:
    farm_simulator.set_fault(FAULTY, "reset")

    async def scenario() -> None:
        async with faulty:
            with pytest.raises(PrinterUnreachable):
                await faulty.version()

    asyncio.run(scenario())


def test_busy_printer_answers_409(
    farm_simulator: SimulatorProcess, faulty: OctoPrintClient
) -> None:
    farm_simulator.set_fault(FAULTY, "busy409")

    async def scenario() -> None:
        async with faulty:
            with pytest.raises(PrinterBusy):
                await faulty.upload("busy.gcode", dwell_gcode(100), print_after=True)
            assert (await faulty.job()).state == "Operational"

    asyncio.run(scenario())


def test_silent_non_start_is_detected(
    farm_simulator: SimulatorProcess, faulty: OctoPrintClient
) -> None:
    farm_simulator.set_fault(FAULTY, "silent_nostart")

    async def scenario() -> None:
        async with faulty:
            with pytest.raises(PrintDidNotStart):
                await faulty.upload("silent.gcode", dwell_gcode(100), print_after=True)
            await faulty.select("silent.gcode")
            with pytest.raises(PrintDidNotStart):
                await faulty.start()
            farm_simulator.set_fault(FAULTY, None)
            await faulty.start()
            await asyncio.sleep(1.0)
            finished = await faulty.job()
            assert finished.finished
            farm_simulator.set_fault(FAULTY, "silent_nostart")
            with pytest.raises(PrintDidNotStart):  # the finished job is not taken for a new one
                await faulty.start()

    asyncio.run(scenario())


def test_restarting_server_answers_bare_not_found_as_starting(
    farm_simulator: SimulatorProcess, faulty: OctoPrintClient
) -> None:
    async def scenario() -> None:
        async with faulty:
            await faulty.upload("restart.gcode", dwell_gcode(3000), print_after=True)
            farm_simulator.set_fault(FAULTY, "restart", 1.0)
            with pytest.raises(OctoPrintStarting):
                await faulty.version()
            await asyncio.sleep(1.1)
            job = await faulty.job()
            assert job.state == "Offline" and not job.is_printing

    asyncio.run(scenario())
