"""The print-farm commands end to end through ``cli.run`` (no OctoPrint needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import Engine

import cli
from fabcoord.db import unit_of_work
from print_farm import dispatch_db
from print_farm.dispatcher import Dispatcher, DispatcherConfig
from tests.factories import ledger_snapshot
from tests.print_farm import farm_factories as ff


def run(database_url: str, *args: str) -> int:
    return cli.run(["--db", database_url, *args])


def test_a_fablab_manager_sets_up_a_printer_a_design_and_a_queue(
    database_url: str,
    engine: Engine,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    farm = ff.make_fablab(engine)
    ff.stock_filament(engine, farm, lot="SPOOL-7", grams=1000)
    monkeypatch.setenv("OCTO_KEY_P1", "k")
    gcode = tmp_path / "visor.gcode"
    gcode.write_bytes(ff.GCODE)
    assert (
        run(
            database_url,
            "printers",
            "add",
            "p1",
            "--fablab",
            farm.fablab,
            "--url",
            "http://127.0.0.1:9",
            "--api-key-env",
            "OCTO_KEY_P1",
            "--no-check",
            "--nozzle",
            "0.6",
            "--bed",
            "250x210",
        )
        == 0
    )
    assert (
        run(
            database_url,
            "printers",
            "load",
            "p1",
            "--material",
            "PETG",
            "--lot",
            "SPOOL-7",
            "--grams",
            "800",
        )
        == 0
    )
    assert (
        run(
            database_url,
            "designs",
            "add",
            "visor x4",
            "--gcode",
            str(gcode),
            "--units-per-print",
            "4",
            "--material",
            "petg",
            "--grams",
            "62",
            "--minutes",
            "95",
        )
        == 0
    )
    assert (
        run(
            database_url,
            "farm",
            "enqueue",
            "visor x4",
            "--count",
            "10",
            "--order",
            "CHU-1",
            "--priority",
            "3",
            "--needed-by",
            "2020-04-10",
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "3 print job(s) 1-3 queued for 10 frames of visor x4 (12 frames planned)" in out
    assert run(database_url, "printers", "status", "--json") == 0
    [status] = json.loads(capsys.readouterr().out)
    assert (status["material"], status["lot"], status["grams_left"]) == ("petg", "SPOOL-7", 800)
    assert (status["nozzle_mm"], status["bed_mm"]) == (0.6, "250x210")
    assert run(database_url, "designs", "list", "--json") == 0
    assert json.loads(capsys.readouterr().out)[0]["units_per_print"] == 4
    assert run(database_url, "printers", "disable", "p1", "--maintenance", "nozzle swap") == 0
    assert run(database_url, "printers", "list") == 0
    assert "no nozzle swap" in capsys.readouterr().out
    assert run(database_url, "printers", "enable", "p1") == 0
    assert run(database_url, "farm", "cancel", "2") == 0
    capsys.readouterr()
    assert run(database_url, "farm", "queue", "--json") == 0
    assert [j["id"] for j in json.loads(capsys.readouterr().out)] == [1, 3]
    assert run(database_url, "printers", "remove", "p1") == 1
    assert "unload" in capsys.readouterr().err
    assert run(database_url, "printers", "unload", "p1") == 0
    assert run(database_url, "printers", "remove", "p1") == 0
    assert ff.qty(engine, "petg", farm.stock, lot="SPOOL-7") == 1000


@pytest.mark.parametrize(
    "args",
    [
        [
            "designs",
            "add",
            "v",
            "--gcode",
            "/nonexistent.gcode",
            "--units-per-print",
            "1",
            "--material",
            "petg",
            "--grams",
            "1",
            "--minutes",
            "1",
        ],
        ["farm", "enqueue", "nope", "--count", "2"],
        ["farm", "cancel", "42"],
        ["printers", "load", "ghost", "--material", "petg", "--lot", "L"],
        ["farm", "enqueue", "x", "--count", "2", "--needed-by", "next week"],
        ["printers", "add", "p", "--fablab", "nowhere", "--url", "http://x", "--api-key-env", "K"],
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(
    database_url: str, engine: Engine, args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    before = ledger_snapshot(engine)
    assert run(database_url, *args) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert ledger_snapshot(engine) == before


def test_the_live_view_shows_each_printer(engine: Engine) -> None:
    farm = ff.make_fablab(engine)
    ff.add_printer(engine, farm, name="p1")
    worker = Dispatcher(engine, DispatcherConfig(owner="view", actor="tester"))
    with_rows = worker.views()
    assert with_rows == []

    with unit_of_work(engine, read_only=True) as session:
        worker.rows = {p.id or 0: p for p in dispatch_db.owned_printers(session=session, ids=[1])}
    console = Console(record=True, width=120)
    console.print(cli._live_table(worker))
    text = console.export_text()
    assert "p1" in text and "unknown" in text
