"""Faults survived against real OctoPrint servers: printer errors, server restarts, a dispatcher
killed with SIGKILL, and two dispatchers sharing one database. Nothing lost, nothing counted twice."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from fabcoord.config import Settings
from fabcoord.db import make_engine, unit_of_work
from print_farm import registry
from print_farm.dispatcher import Dispatcher
from print_farm.models import JobState
from print_farm.octoprint import OctoPrintClient
from tests.print_farm import farm_factories as ff
from tests.print_farm import farm_runs as fr
from tests.print_farm.octoprint_servers import OctoPrintServer, start_servers, stop_servers


@pytest.fixture(scope="module")
def fault_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[OctoPrintServer]]:
    """Servers of our own: these tests kill, fault and restart them, the shared ones stay clean."""
    started = start_servers(tmp_path_factory.mktemp("fault-octoprint"), 3)
    try:
        yield started
    finally:
        stop_servers(started)


@pytest.fixture
def servers(fault_servers: list[OctoPrintServer]) -> list[OctoPrintServer]:
    fr.reset_servers(fault_servers)
    return fault_servers


def send(server: OctoPrintServer, commands: list[str]) -> None:
    """Synchronous (the dispatcher's event loop is running in the caller)."""
    status, body = server.request("POST", "/api/printer/command", {"commands": commands})
    assert status == 204, body


def printer_job_state(server: OctoPrintServer) -> tuple[str, float | None]:
    async def go() -> tuple[str, float | None]:
        async with OctoPrintClient(server.url, server.api_key) as client:
            job = await client.job()
            return job.state, job.completion

    return asyncio.run(go())


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def one_line_farm(
    engine: Engine, server: OctoPrintServer, monkeypatch: pytest.MonkeyPatch, *, auto_clear: bool
) -> tuple[ff.Farm, fr.Line]:
    farm = ff.make_fablab(engine)
    [line] = fr.make_lines(engine, farm, [server], monkeypatch, auto_clear=auto_clear)
    ff.stock_filament(engine, farm, lot="L1", grams=200)
    ff.load(engine, line.name, lot="L1", grams=200)
    return farm, line


def test_offline_after_error_mid_print_scraps_the_filament_and_requeues(
    engine: Engine, servers: list[OctoPrintServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    farm, line = one_line_farm(engine, servers[0], monkeypatch, auto_clear=False)
    [job_id] = ff.enqueue(engine, fr.dwell_design(engine, ms=4000, grams=40), 2)
    faulted: list[bool] = []
    printing_since: list[float] = []

    def fault_then_requeued() -> bool:
        job = ff.job(engine, job_id)
        if job.status is JobState.PRINTING and not faulted:
            # fault mid-print: once the printer shows progress and the dispatcher has had a
            # second to hear it (a fault at 0 % rightly scraps nothing)
            printing_since.append(time.monotonic())
            status, body = line.server.request("GET", "/api/job")
            progress = (json.loads(body).get("progress") or {}) if status == 200 else {}
            if progress.get("completion") and time.monotonic() - printing_since[0] >= 1.0:
                send(line.server, ["!!DEBUG:trigger_fatal_error_marlin"])
                faulted.append(True)
        return bool(faulted) and job.status is JobState.QUEUED

    fr.drive(engine, fault_then_requeued, what="failure recorded")
    job = ff.job(engine, job_id)
    # OctoPrint reports the fault as "Error" then "Offline after error", with or without
    # PrintFailed; the reading the verdict came from may already say plain "Offline"
    assert job.attempts == 1 and ("Offline" in job.last_error or "Error" in job.last_error)
    scrapped = ff.qty(engine, "petg", "scrap", lot="L1")
    assert 0 < scrapped <= 40
    assert ff.qty(engine, "visor-frame", farm.stock) == 0
    assert ff.printer(engine, line.name).bed_clear is False
    with unit_of_work(engine) as session:
        registry.clear_bed(session=session, name=line.name)
    # the dispatcher reconnects the printer once its bed is clear, then prints the job again
    fr.drive(engine, fr.job_is(engine, job_id, JobState.DONE), what="second attempt done")
    assert ff.job(engine, job_id).attempts == 2
    assert ff.qty(engine, "visor-frame", farm.stock) == 2
    assert ff.qty(engine, "petg", f"printer/{line.name}", lot="L1") == 200 - scrapped - 40
    assert len(fr.postings(engine, "print_scrap")) == 1
    assert len(fr.postings(engine, "print_output")) == 1


def test_an_octoprint_server_killed_mid_print_is_waited_for_then_the_job_is_redone(
    engine: Engine, servers: list[OctoPrintServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    farm, line = one_line_farm(engine, servers[1], monkeypatch, auto_clear=True)
    [job_id] = ff.enqueue(engine, fr.dwell_design(engine, ms=4000, grams=40), 2)
    killed_at: list[float] = []

    def kill_and_wait() -> bool:
        job = ff.job(engine, job_id)
        if job.status is JobState.PRINTING and not killed_at:
            line.server.stop(kill=True)
            killed_at.append(time.monotonic())
        return bool(killed_at) and time.monotonic() - killed_at[0] > 3.0

    fr.drive(engine, kill_and_wait, what="server down for 3 s")
    assert ff.job(engine, job_id).status is JobState.PRINTING  # not forgotten, not failed yet
    marked = ff.printer(engine, line.name)
    assert marked.reachable is False and marked.state == "unreachable"
    line.server.start()
    line.server.wait_ready()
    try:
        fr.drive(engine, fr.job_is(engine, job_id, JobState.DONE), timeout=90, what="job redone")
    finally:
        line.server.restart()  # leave the shared server as the other tests expect it: clean
    assert ff.job(engine, job_id).attempts == 2
    assert ff.qty(engine, "visor-frame", farm.stock) == 2
    scrapped = ff.qty(engine, "petg", "scrap", lot="L1")
    assert 0 < scrapped <= 40
    assert ff.qty(engine, "petg", f"printer/{line.name}", lot="L1") == 200 - scrapped - 40


def _dispatcher_process(database_url: str, owner: str, log: Path) -> subprocess.Popen[bytes]:
    command = [
        str(Path(sys.executable).parent / "fabcoord"),
        "--db",
        database_url,
        "farm",
        "run",
        "--owner",
        owner,
        "--lease",
        "3",
        "--tick",
        "0.1",
        "--poll",
        "1",
        "--stagger",
        "0.1",
        "--no-live",
    ]
    with log.open("ab") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ))


def test_a_dispatcher_killed_mid_print_is_replaced_without_double_counting(
    database_url: str,
    engine: Engine,
    servers: list[OctoPrintServer],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    farm = ff.make_fablab(engine)
    lines = fr.make_lines(engine, farm, servers[:2], monkeypatch)
    for line in lines:
        ff.stock_filament(engine, farm, lot=line.name, grams=200)
        ff.load(engine, line.name, lot=line.name, grams=200)
    job_ids = ff.enqueue(engine, fr.dwell_design(engine, ms=3000, units=1, grams=10), 4)
    log = tmp_path / "dispatchers.log"
    first = _dispatcher_process(database_url, "first", log)
    try:
        wait_for(
            lambda: sum(ff.job(engine, j).status is JobState.PRINTING for j in job_ids) == 2,
            30,
            "two prints under way",
        )
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
    # both prints finish while no dispatcher runs
    wait_for(
        lambda: all(printer_job_state(line.server) == ("Operational", 100.0) for line in lines),
        30,
        "prints finished on the printers",
    )
    assert ff.jobs_by_status(engine).get(JobState.DONE, 0) == 0
    second = _dispatcher_process(database_url, "second", log)
    try:
        wait_for(fr.all_jobs(engine, JobState.DONE), 60, "all jobs done after the restart")
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=20)
    assert second.returncode == 0, log.read_text()
    assert ff.qty(engine, "visor-frame", farm.stock) == 4
    outputs = fr.postings(engine, "print_output")
    assert sorted(int(doc) for doc, _ in outputs) == job_ids
    assert all(ff.job(engine, j).attempts == 1 for j in job_ids)
    assert sum(200 - ff.qty(engine, "petg", f"printer/{line.name}") for line in lines) == 40
    with unit_of_work(engine, read_only=True) as session:
        leases = {p.lease_owner for p in registry.list_printers(session=session)}
    assert leases == {""}  # the clean exit gave the leases back


@pytest.mark.postgresql_only
def test_two_dispatchers_share_the_farm_and_start_each_job_once(
    engine: Engine,
    settings: Settings,
    servers: list[OctoPrintServer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    farm = ff.make_fablab(engine)
    lines = fr.make_lines(engine, farm, servers, monkeypatch)
    for line in lines:
        ff.stock_filament(engine, farm, lot=line.name, grams=300)
        ff.load(engine, line.name, lot=line.name, grams=300)
    job_ids = ff.enqueue(engine, fr.dwell_design(engine, ms=700, units=1, grams=10), 9)
    engines = [make_engine(settings), make_engine(settings)]
    first = Dispatcher(engines[0], fr.fast_config("A", max_printers=2))
    second = Dispatcher(engines[1], fr.fast_config("B"))

    async def both() -> None:
        stop_first, stop_second = asyncio.Event(), asyncio.Event()
        tasks = [asyncio.create_task(first.run(stop=stop_first))]
        while len(first.leases.owned) < 2:  # A leases first (its renewals run on a thread)
            await asyncio.sleep(0.02)
        tasks.append(asyncio.create_task(second.run(stop=stop_second)))
        deadline = time.monotonic() + 90
        handed_over = False
        while not fr.all_jobs(engine, JobState.DONE)():
            assert time.monotonic() < deadline, fr.status(engine)
            done = ff.jobs_by_status(engine).get(JobState.DONE, 0)
            if done >= 4 and not handed_over:
                stop_first.set()  # A leaves; B takes over its printers
                handed_over = True
            await asyncio.sleep(0.1)
        stop_first.set()
        stop_second.set()
        await asyncio.gather(*tasks)

    try:
        asyncio.run(both())
    finally:
        for other in engines:
            other.dispose()
    assert first.stats["started"] >= 1 and second.stats["started"] >= 1
    assert first.stats["started"] + second.stats["started"] == 9
    outputs = fr.postings(engine, "print_output")
    assert sorted(int(doc) for doc, _ in outputs) == job_ids
    assert ff.qty(engine, "visor-frame", farm.stock) == 9
    assert all(ff.job(engine, j).attempts == 1 for j in job_ids)


def test_a_print_that_ended_unwatched_on_a_server_restarted_since_is_counted_once(
    engine: Engine, servers: list[OctoPrintServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    farm, line = one_line_farm(engine, servers[2], monkeypatch, auto_clear=True)
    [job_id] = ff.enqueue(engine, fr.dwell_design(engine, ms=2500, grams=40), 2)
    fr.drive(engine, fr.job_is(engine, job_id, JobState.PRINTING), what="print under way")
    # the dispatcher is stopped; the print ends; then the server restarts: Offline, no job
    wait_for(lambda: printer_job_state(line.server) == ("Operational", 100.0), 30, "print finished")
    line.server.stop()
    line.server.start()
    line.server.wait_ready()
    assert printer_job_state(line.server) == ("Offline", None)
    try:
        dispatcher = Dispatcher(engine, fr.fast_config("after-restart", push=False))
        asyncio.run(dispatcher.run(once=True))
    finally:
        fr.reset_servers([line.server])
    assert dispatcher.stats["done"] == 1 and dispatcher.stats["failed"] == 0
    job = ff.job(engine, job_id)
    assert job.status is JobState.DONE and job.attempts == 1
    assert ff.qty(engine, "visor-frame", farm.stock) == 2
    assert ff.qty(engine, "petg", "scrap", lot="L1") == 0
    assert ff.qty(engine, "petg", f"printer/{line.name}", lot="L1") == 160
    assert [doc for doc, _ in fr.postings(engine, "print_output")] == [str(job_id)]
    assert fr.postings(engine, "print_scrap") == []


def test_a_print_killed_with_its_server_is_not_taken_for_done_by_its_files_history(
    engine: Engine, servers: list[OctoPrintServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same design printed before on this printer: its earlier success predates our start."""
    farm, line = one_line_farm(engine, servers[2], monkeypatch, auto_clear=True)
    design = fr.dwell_design(engine, ms=4000, units=1, grams=10)
    first, second = ff.enqueue(engine, design, 2)
    fr.drive(engine, fr.job_is(engine, first, JobState.DONE), what="first print done")
    fr.drive(engine, fr.job_is(engine, second, JobState.PRINTING), what="second print under way")
    line.server.stop(kill=True)  # mid-print: the file's history keeps the first print only
    line.server.start()
    line.server.wait_ready()
    try:
        dispatcher = Dispatcher(engine, fr.fast_config("after-kill", push=False))
        asyncio.run(dispatcher.run(once=True))
    finally:
        fr.reset_servers([line.server])
    assert dispatcher.stats["failed"] == 1 and dispatcher.stats["done"] == 0
    assert ff.job(engine, second).status is JobState.QUEUED
    assert ff.job(engine, second).attempts == 1
    assert ff.qty(engine, "visor-frame", farm.stock) == 1
    assert [doc for doc, _ in fr.postings(engine, "print_scrap")] == [str(second)]
