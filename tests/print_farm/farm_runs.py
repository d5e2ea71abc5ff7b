"""Running the dispatcher against real OctoPrint servers in tests."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine, text

from fabcoord.db import unit_of_work
from print_farm.dispatcher import Dispatcher, DispatcherConfig
from print_farm.models import JobState, PrintJob
from tests.print_farm import farm_factories as ff
from tests.print_farm.conftest import reset_printer
from tests.print_farm.octoprint_servers import OctoPrintServer, dwell_gcode
from tests.print_farm.simulator_process import SimulatorProcess


@dataclass
class Line:
    """A printer of the farm under test, on one real OctoPrint server."""

    name: str
    server: OctoPrintServer
    key_env: str


def fast_config(owner: str = "test-dispatcher", **overrides: object) -> DispatcherConfig:
    values: dict[str, object] = {
        "owner": owner,
        "actor": "tester",
        "lease_s": 4.0,
        "tick_s": 0.1,
        "poll_s": 1.0,
        "reconcile_s": 3.0,
        "stagger_s": 0.1,
        "confirm_s": 5.0,
        "retry_s": 1.0,
    }
    values.update(overrides)
    return DispatcherConfig(**values)  # type: ignore[arg-type]


def one_job_on_a_simulated_printer(
    engine: Engine, simulator: SimulatorProcess, printer_n: int, monkeypatch: pytest.MonkeyPatch
) -> tuple[int, int]:
    """A fablab with simulated printer ``printer_n``, loaded, and one 60 s job queued for it:
    (the printer's id, the job's id)."""
    farm = ff.make_fablab(engine)
    monkeypatch.setenv("FABCOORD_TEST_SIM_KEY", simulator.api_key)
    printer = ff.add_printer(
        engine, farm, url=simulator.url(printer_n), key_env="FABCOORD_TEST_SIM_KEY"
    )
    ff.stock_filament(engine, farm, lot="L1", grams=100)
    ff.load(engine, printer, lot="L1", grams=100)
    [job_id] = ff.enqueue(engine, dwell_design(engine, ms=60_000, grams=10), 2)
    return ff.printer(engine, printer).id or 0, job_id


def dwell_design(engine: Engine, *, ms: int, units: int = 2, grams: int = 10) -> str:
    """A design whose G-code is unique to this test (so it is uploaded) and lasts ``ms``."""
    gcode = dwell_gcode(ms) + f"; {uuid.uuid4().hex}\n".encode()
    return ff.add_design(engine, gcode=gcode, units=units, grams=grams)


def reset_servers(servers: list[OctoPrintServer]) -> None:
    from print_farm.octoprint import OctoPrintClient

    async def reset_all() -> None:
        for server in servers:
            if server.process is None or server.process.poll() is not None:
                server.start()
                server.wait_ready()
            async with OctoPrintClient(server.url, server.api_key) as client:
                await reset_printer(client, timeout=30)

    asyncio.run(reset_all())


def make_lines(
    engine: Engine,
    farm: ff.Farm,
    servers: list[OctoPrintServer],
    monkeypatch: pytest.MonkeyPatch,
    *,
    auto_clear: bool = True,
) -> list[Line]:
    lines = []
    for index, server in enumerate(servers):
        key_env = f"FABCOORD_TEST_OCTO_KEY_{index}"
        monkeypatch.setenv(key_env, server.api_key)
        name = ff.add_printer(
            engine,
            farm,
            name=f"octo-{index}",
            url=server.url,
            key_env=key_env,
            auto_clear=auto_clear,
        )
        lines.append(Line(name, server, key_env))
    return lines


async def run_until(
    dispatcher: Dispatcher,
    condition: Callable[[], bool],
    *,
    timeout: float = 60.0,
    what: str = "condition",
) -> None:
    """Run the dispatcher until ``condition`` holds (checked every 0.1 s), then stop it."""
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stop=stop))
    deadline = time.monotonic() + timeout
    try:
        while not condition():
            if task.done():
                task.result()
                raise AssertionError("dispatcher stopped early")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}: {status(dispatcher.engine)}")
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await task


def drive(engine: Engine, condition: Callable[[], bool], **kwargs: object) -> Dispatcher:
    config = kwargs.pop("config", None) or fast_config()
    dispatcher = Dispatcher(engine, config)  # type: ignore[arg-type]
    asyncio.run(run_until(dispatcher, condition, **kwargs))  # type: ignore[arg-type]
    return dispatcher


def status(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as connection:
        return [
            tuple(row)
            for row in connection.execute(
                text(
                    "SELECT id, status, printer_id, attempts, last_error FROM farm_job ORDER BY id"
                )
            )
        ]


def all_jobs(engine: Engine, state: JobState) -> Callable[[], bool]:
    def check() -> bool:
        with unit_of_work(engine, read_only=True) as session:
            rows = session.exec(text("SELECT status FROM farm_job")).all()  # type: ignore[call-overload]
        return bool(rows) and all(row[0] == state.value for row in rows)

    return check


def job_is(
    engine: Engine, job_id: int, state: JobState, attempts: int | None = None
) -> Callable[[], bool]:
    def check() -> bool:
        with unit_of_work(engine, read_only=True) as session:
            job = session.get(PrintJob, job_id)
        assert job is not None
        return job.status is state and (attempts is None or job.attempts == attempts)

    return check


def postings(engine: Engine, reason: str) -> list[tuple[str, str]]:
    with engine.connect() as connection:
        return [
            (row[0], row[1])
            for row in connection.execute(
                text("SELECT doc_id, idempotency_key FROM posting WHERE reason = :r ORDER BY id"),
                {"r": reason},
            )
        ]
