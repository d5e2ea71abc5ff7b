"""The dispatcher against real OctoPrint 1.11.8 servers (Virtual Printer): dispatch and gating."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from fabcoord.db import unit_of_work
from print_farm import claims, registry
from print_farm.errors import PrinterInUse
from print_farm.models import FarmPrinter, JobState
from tests.factories import ledger_snapshot
from tests.print_farm import farm_factories as ff
from tests.print_farm import farm_runs as fr
from tests.print_farm.octoprint_servers import OctoPrintServer


@pytest.fixture
def servers(octoprint_servers: list[OctoPrintServer]) -> list[OctoPrintServer]:
    fr.reset_servers(octoprint_servers)
    return octoprint_servers


def test_a_queue_is_printed_across_three_printers_and_counted_once(
    engine: Engine, servers: list[OctoPrintServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    farm = ff.make_fablab(engine)
    lines = fr.make_lines(engine, farm, servers, monkeypatch)
    for index, line in enumerate(lines):
        ff.stock_filament(engine, farm, lot=f"L{index}", grams=200)
        ff.load(engine, line.name, lot=f"L{index}", grams=200)
    design = fr.dwell_design(engine, ms=800, units=2, grams=10)
    job_ids = ff.enqueue(engine, design, 12, order_ref=ff.open_order(engine))
    assert len(job_ids) == 6
    config = fr.fast_config(stagger_s=0.3)
    fr.drive(engine, fr.all_jobs(engine, JobState.DONE), what="6 jobs done", config=config)
    assert ff.qty(engine, "visor-frame", farm.stock) == 12
    sent = sorted(claims.aware(ff.job(engine, j).start_sent_at) for j in job_ids)  # type: ignore[type-var]
    assert all((b - a).total_seconds() >= 0.25 for a, b in itertools.pairwise(sent)), (
        sent
    )  # staggered
    used = sum(200 - ff.qty(engine, "petg", f"printer/{line.name}") for line in lines)
    assert used == 60
    assert ff.qty(engine, "petg", "production") == 60
    outputs = fr.postings(engine, "print_output")
    assert sorted(int(doc) for doc, _ in outputs) == job_ids
    printers_used = {ff.job(engine, job_id).printer_id for job_id in job_ids}
    assert len(printers_used) >= 2
    assert all(ff.job(engine, job_id).attempts == 1 for job_id in job_ids)


def test_a_printer_waits_for_the_right_material_and_a_spool_long_enough(
    engine: Engine, servers: list[OctoPrintServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    farm = ff.make_fablab(engine)
    pla_line, short_line, _ = fr.make_lines(engine, farm, servers, monkeypatch)
    ff.stock_filament(engine, farm, lot="PLA1", grams=500, item="pla")
    ff.stock_filament(engine, farm, lot="G1", grams=500)
    ff.load(engine, pla_line.name, lot="PLA1", grams=500, material="pla")
    ff.load(engine, short_line.name, lot="G1", grams=5)
    with unit_of_work(engine) as session:
        registry.set_enabled(session=session, name="octo-2", enabled=False, maintenance="nozzle")
    [job_id] = ff.enqueue(engine, fr.dwell_design(engine, ms=300, grams=10), 2)
    before = ledger_snapshot(engine)

    def told() -> bool:
        return "needs petg" in ff.printer(engine, pla_line.name).notice and (
            "change the spool" in ff.printer(engine, short_line.name).notice
        )

    fr.drive(engine, told, timeout=20, what="operator notices")
    assert ff.job(engine, job_id).status is JobState.QUEUED
    assert ledger_snapshot(engine) == before
    assert "5 g of petg lot G1 left" in ff.printer(engine, short_line.name).notice
    ff.load(engine, short_line.name, lot="G1", grams=400)  # a new spool of the lot
    fr.drive(engine, fr.job_is(engine, job_id, JobState.DONE), what="job done")
    assert ff.job(engine, job_id).printer_id == ff.printer(engine, short_line.name).id
    assert ff.qty(engine, "petg", f"printer/{short_line.name}", lot="G1") == 390


def test_a_printer_starts_again_only_once_its_bed_is_cleared(
    engine: Engine, servers: list[OctoPrintServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    farm = ff.make_fablab(engine)
    [line] = fr.make_lines(engine, farm, servers[:1], monkeypatch, auto_clear=False)
    ff.stock_filament(engine, farm, lot="L1", grams=100)
    ff.load(engine, line.name, lot="L1", grams=100)
    first, second = ff.enqueue(engine, fr.dwell_design(engine, ms=1500, units=1), 2)
    fr.drive(engine, fr.job_is(engine, first, JobState.DONE), what="first print")
    assert ff.printer(engine, line.name).bed_clear is False

    refused: list[str] = []

    def second_prints_while_bed_gated() -> bool:
        if ff.job(engine, second).status is JobState.PRINTING:
            try:
                with unit_of_work(engine) as session:
                    registry.clear_bed(session=session, name=line.name)
            except PrinterInUse as error:
                refused.append(str(error))
            return True
        return False

    gate_started = time.monotonic()
    fr.drive(
        engine,
        lambda: time.monotonic() - gate_started > 2.0,
        what="a pause with the bed not cleared",
    )
    assert ff.job(engine, second).status is JobState.QUEUED
    assert "farm clear" in ff.printer(engine, line.name).notice
    with unit_of_work(engine) as session:
        registry.clear_bed(session=session, name=line.name)
    fr.drive(engine, second_prints_while_bed_gated, what="second print started")
    assert refused and "is printing" in refused[0]
    fr.drive(engine, fr.job_is(engine, second, JobState.DONE), what="second print done")
    assert ff.qty(engine, "visor-frame", farm.stock) == 2


def test_a_printer_with_a_wrong_key_is_marked_and_the_others_print(
    engine: Engine, servers: list[OctoPrintServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    farm = ff.make_fablab(engine)
    good, bad = fr.make_lines(engine, farm, servers[:2], monkeypatch)
    monkeypatch.setenv(bad.key_env, "not-the-key")
    for line in (good, bad):
        ff.stock_filament(engine, farm, lot=line.name, grams=100)
        ff.load(engine, line.name, lot=line.name, grams=100)
    job_ids = ff.enqueue(engine, fr.dwell_design(engine, ms=300, units=1), 2)
    fr.drive(engine, fr.all_jobs(engine, JobState.DONE), what="jobs done on the good printer")
    assert {ff.job(engine, j).printer_id for j in job_ids} == {ff.printer(engine, good.name).id}
    marked = ff.printer(engine, bad.name)
    assert marked.reachable is False and "API key refused" in marked.notice
    assert "not-the-key" not in marked.notice


def test_adding_a_printer_with_a_wrong_key_changes_nothing(
    database_url: str,
    engine: Engine,
    servers: list[OctoPrintServer],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import cli

    farm = ff.make_fablab(engine)
    monkeypatch.setenv("FARM_WRONG_KEY", "wrong")
    monkeypatch.setenv("FARM_RIGHT_KEY", servers[0].api_key)
    base = [
        "--db",
        database_url,
        "printers",
        "add",
        "p1",
        "--fablab",
        farm.fablab,
        "--url",
        servers[0].url,
    ]
    assert cli.run([*base, "--api-key-env", "FARM_WRONG_KEY"]) == 1
    assert "API key refused" in capsys.readouterr().err
    with unit_of_work(engine, read_only=True) as session:
        assert registry.list_printers(session=session) == []
    assert cli.run([*base, "--api-key-env", "FARM_RIGHT_KEY"]) == 0
    assert "OctoPrint 1.11.8" in capsys.readouterr().out


def test_a_cancelled_print_is_scrapped_and_the_job_is_not_requeued(
    engine: Engine, servers: list[OctoPrintServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    from print_farm import queue

    farm = ff.make_fablab(engine)
    [line] = fr.make_lines(engine, farm, servers[:1], monkeypatch)
    ff.stock_filament(engine, farm, lot="L1", grams=100)
    ff.load(engine, line.name, lot="L1", grams=100)
    [job_id] = ff.enqueue(engine, fr.dwell_design(engine, ms=6000, grams=20), 2)

    def cancel_when_printing() -> bool:
        job = ff.job(engine, job_id)
        # once the print has progressed: cancelled at 0 % it has used no filament, scrapped 0 g
        if job.status is JobState.PRINTING and not job.cancel_requested and _done(line.name) > 0:
            with unit_of_work(engine) as session:
                queue.cancel_job(session=session, job_id=job_id)
        return job.status is JobState.CANCELLED

    def _done(printer: str) -> float:
        with unit_of_work(engine, read_only=True) as session:
            query = select(FarmPrinter.completion).where(FarmPrinter.name == printer)
            return session.exec(query).one() or 0.0

    fr.drive(engine, cancel_when_printing, what="job cancelled")
    scrapped = ff.qty(engine, "petg", "scrap", lot="L1")
    assert 0 < scrapped <= 20
    assert ff.qty(engine, "petg", f"printer/{line.name}", lot="L1") == 100 - scrapped
    assert ff.qty(engine, "visor-frame", farm.stock) == 0
    asyncio.run(asyncio.sleep(0))


def test_farm_run_once_starts_then_a_later_pass_records_the_end(
    database_url: str,
    engine: Engine,
    servers: list[OctoPrintServer],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json

    import cli

    farm = ff.make_fablab(engine)
    [line] = fr.make_lines(engine, farm, servers[:1], monkeypatch, auto_clear=False)
    ff.stock_filament(engine, farm, lot="L1", grams=100)
    ff.load(engine, line.name, lot="L1", grams=100)
    [job_id] = ff.enqueue(engine, fr.dwell_design(engine, ms=1000, grams=12), 2)
    base = ["--db", database_url]
    assert cli.run([*base, "farm", "run", "--once", "--stagger", "0"]) == 0
    assert "1 started" in capsys.readouterr().out
    assert ff.job(engine, job_id).status is JobState.PRINTING
    deadline = time.monotonic() + 30
    while json.loads(line.server.request("GET", "/api/job")[1])["progress"]["completion"] != 100:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert cli.run([*base, "farm", "run", "--once"]) == 0
    assert "1 done" in capsys.readouterr().out
    assert cli.run([*base, "farm", "run", "--once"]) == 0  # nothing more to record
    assert "0 done" in capsys.readouterr().out
    assert ff.qty(engine, "visor-frame", farm.stock) == 2
    assert ff.qty(engine, "petg", f"printer/{line.name}", lot="L1") == 88
    assert cli.run([*base, "farm", "queue", "--all", "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert (row["status"], row["printer"], row["lot"], row["attempts"]) == (
        "done",
        line.name,
        "L1",
        1,
    )
    assert cli.run([*base, "printers", "status", line.name]) == 0
    assert "farm clear" in capsys.readouterr().out
    assert cli.run([*base, "farm", "clear", line.name]) == 0
    assert ff.printer(engine, line.name).bed_clear is True
