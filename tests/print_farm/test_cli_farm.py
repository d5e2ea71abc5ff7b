"""The print-farm commands end to end through ``cli.run`` (no OctoPrint needed)."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import Engine, text

import cli
from fabcoord.config import Settings
from fabcoord.db import make_engine, unit_of_work
from print_farm import commands as farm_commands
from print_farm import dispatch_db, registry
from print_farm.dispatcher import Dispatcher, DispatcherConfig
from print_farm.models import JobState, PrintJob
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
    console.print(farm_commands.live_table(worker))
    text = console.export_text()
    assert "p1" in text and "unknown" in text


class _RacingOctoPrint(http.server.BaseHTTPRequestHandler):
    """Answers as OctoPrint; while answering ``/api/version`` someone else registers the printer."""

    during_check: Callable[[], None] = staticmethod(lambda: None)

    def do_GET(self) -> None:
        if self.path == "/api/version":
            type(self).during_check()
        body = json.dumps({"api": "0.1", "server": "1.11.8", "text": "OctoPrint 1.11.8"}).encode()
        self.send_response(200 if self.path == "/api/version" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def racing_octoprint() -> Iterator[tuple[str, type[_RacingOctoPrint]]]:
    handler = type("Racing", (_RacingOctoPrint,), {})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def test_printers_add_checks_octoprint_before_writing_so_no_lock_is_held_meanwhile(
    database_url: str,
    engine: Engine,
    settings: Settings,
    racing_octoprint: tuple[str, type[_RacingOctoPrint]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, handler = racing_octoprint
    farm = ff.make_fablab(engine)
    monkeypatch.setenv("OCTO_KEY_RACE", "k")
    other_writes: list[str] = []

    def register_meanwhile() -> None:
        # a write during the check: it would wait for the CLI's write lock (SQLite) or its
        # uncommitted row (PostgreSQL) if the check ran inside the CLI's transaction
        other = make_engine(settings.model_copy(update={"sqlite_busy_timeout_s": 2.0}))
        try:
            with unit_of_work(other) as session:
                if session.get_bind().dialect.name == "postgresql":
                    session.execute(text("SET LOCAL lock_timeout = '2s'"))
                registry.add_printer(
                    session=session,
                    spec=registry.PrinterSpec(
                        name="race", fablab=farm.fablab, url=url + "/other", api_key_env="K"
                    ),
                )
            other_writes.append("ok")
        except Exception as error:  # recorded: the test asserts there was none
            other_writes.append(repr(error))
        finally:
            other.dispose()

    handler.during_check = staticmethod(register_meanwhile)
    args = ["printers", "add", "race", "--fablab", farm.fablab, "--url", url]
    assert run(database_url, *args, "--api-key-env", "OCTO_KEY_RACE") == 1
    assert other_writes == ["ok"]
    err = capsys.readouterr().err
    assert err == "error: printer 'race' exists already\n"
    assert ff.printer(engine, "race").url == url + "/other"


def test_printers_add_checks_octoprint_then_registers(
    database_url: str,
    engine: Engine,
    racing_octoprint: tuple[str, type[_RacingOctoPrint]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, _ = racing_octoprint
    farm = ff.make_fablab(engine)
    monkeypatch.setenv("OCTO_KEY_OK", "k")
    args = ["printers", "add", "fine", "--fablab", farm.fablab, "--url", url]
    assert run(database_url, *args, "--api-key-env", "OCTO_KEY_OK") == 0
    assert "(OctoPrint 1.11.8)" in capsys.readouterr().out
    assert ff.printer(engine, "fine").url == url


def test_a_held_job_shows_in_the_queue_and_farm_retry_requeues_it(
    database_url: str, engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    [job_id] = ff.enqueue(engine, ff.add_design(engine), 2)
    with unit_of_work(engine) as session:
        job = session.get(PrintJob, job_id)
        assert job is not None
        job.status, job.attempts, job.last_error = JobState.HELD, 5, "did not start on p1"
        session.add(job)
    assert run(database_url, "farm", "queue", "--json") == 0
    [row] = json.loads(capsys.readouterr().out)
    assert (row["id"], row["status"], row["last_error"]) == (job_id, "held", "did not start on p1")
    assert run(database_url, "farm", "retry", str(job_id)) == 0
    assert f"job {job_id} back in the queue" in capsys.readouterr().out
    assert ff.job(engine, job_id).status is JobState.QUEUED
    before = ledger_snapshot(engine)
    assert run(database_url, "farm", "retry", str(job_id)) == 1
    err = capsys.readouterr().err
    assert err == f"error: print job {job_id} is queued, not held: only held jobs are retried\n"
    assert run(database_url, "farm", "retry", "999") == 1
    assert capsys.readouterr().err.count("\n") == 1
    assert ledger_snapshot(engine) == before


def test_farm_run_takes_an_attempt_limit(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(database_url, "farm", "run", "--once", "--max-attempts", "2") == 0
    assert "0 started" in capsys.readouterr().out
    assert run(database_url, "farm", "run", "--once", "--max-attempts", "0") == 2
    assert "--max-attempts" in capsys.readouterr().err
