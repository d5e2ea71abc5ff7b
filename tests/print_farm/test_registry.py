"""Printer registry and spools: keys are referenced never stored, filament moves in the ledger."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import Engine, text

import cli
from fabcoord.db import unit_of_work
from fabcoord.errors import AlreadyExists, InsufficientStock, InvalidInput
from print_farm import registry, spools
from print_farm.errors import ApiKeyUnavailable, PrinterInUse, UnknownPrinter
from tests.factories import database_snapshot
from tests.print_farm import farm_factories as ff


def test_adding_a_printer_creates_its_ledger_location(engine: Engine) -> None:
    farm = ff.make_fablab(engine)
    name = ff.add_printer(engine, farm, name="prusa-01")
    assert ff.qty(engine, "petg", f"printer/{name}") == 0
    with unit_of_work(engine, read_only=True) as session:
        listed = [p.name for p in registry.list_printers(session=session)]
    assert listed == ["prusa-01"]


def test_loading_moves_the_lot_from_stock_to_the_printer(engine: Engine) -> None:
    farm = ff.make_fablab(engine)
    ff.stock_filament(engine, farm, lot="L1", grams=1000)
    name = ff.add_printer(engine, farm)
    ff.load(engine, name, lot="L1", grams=750)
    assert ff.qty(engine, "petg", f"printer/{name}", lot="L1") == 750
    assert ff.qty(engine, "petg", farm.stock, lot="L1") == 250
    with unit_of_work(engine) as session:
        _, back = spools.unload_spool(session=session, name=name, actor="tester")
    assert back == 750
    assert ff.qty(engine, "petg", farm.stock, lot="L1") == 1000
    assert ff.printer(engine, name).loaded_lot == ""


def test_loading_more_than_the_lot_holds_changes_nothing(engine: Engine) -> None:
    farm = ff.make_fablab(engine)
    ff.stock_filament(engine, farm, lot="L1", grams=100)
    name = ff.add_printer(engine, farm)
    before = database_snapshot(engine)
    with pytest.raises(InsufficientStock):
        ff.load(engine, name, lot="L1", grams=500)
    assert database_snapshot(engine) == before
    assert ff.printer(engine, name).loaded_lot == ""


def test_loading_a_new_spool_returns_the_old_one_first(engine: Engine) -> None:
    farm = ff.make_fablab(engine)
    ff.stock_filament(engine, farm, lot="L1", grams=300)
    ff.stock_filament(engine, farm, lot="L2", grams=400)
    name = ff.add_printer(engine, farm)
    ff.load(engine, name, lot="L1", grams=300)
    ff.load(engine, name, lot="L2", grams=400)
    assert ff.qty(engine, "petg", farm.stock, lot="L1") == 300
    assert ff.qty(engine, "petg", f"printer/{name}", lot="L2") == 400


def test_a_second_printer_of_the_same_name_is_refused(engine: Engine) -> None:
    farm = ff.make_fablab(engine)
    ff.add_printer(engine, farm, name="p1")
    with pytest.raises(AlreadyExists):
        ff.add_printer(engine, farm, name="p1")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("url", "ftp://x"),
        ("url", "http://127.0.0.1:5000/?apikey=SECRET"),
        ("url", "http://admin:pw@127.0.0.1:5000"),
        ("name", "no spaces allowed"),
        ("key_env", "1-bad var"),
    ],
)
def test_bad_printer_settings_are_refused(engine: Engine, field: str, value: str) -> None:
    farm = ff.make_fablab(engine)
    with pytest.raises(InvalidInput):
        ff.add_printer(engine, farm, **{field: value})  # type: ignore[arg-type]


def test_the_api_key_is_read_from_its_variable_and_never_shown(
    engine: Engine,
    settings: object,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    farm = ff.make_fablab(engine)
    name = ff.add_printer(engine, farm, key_env="FARM_KEY_A")
    monkeypatch.setenv("FARM_KEY_A", "s3cret-key-value")
    printer = ff.printer(engine, name)
    assert registry.read_api_key(printer) == "s3cret-key-value"
    url = engine.url.render_as_string(hide_password=False)
    assert cli.run(["--db", url, "printers", "list", "--json"]) == 0
    assert cli.run(["--db", url, "printers", "status"]) == 0
    out = capsys.readouterr().out
    assert "s3cret" not in out
    assert json.loads(out[: out.index("]") + 1])[0]["api_key_source"] == "env:FARM_KEY_A"
    with engine.connect() as connection:
        dumped = str(connection.execute(text("SELECT * FROM farm_printer")).all())
    assert "s3cret" not in dumped


def test_a_missing_key_variable_is_named_in_the_error(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    farm = ff.make_fablab(engine)
    name = ff.add_printer(engine, farm, key_env="FARM_KEY_UNSET")
    monkeypatch.delenv("FARM_KEY_UNSET", raising=False)
    with pytest.raises(ApiKeyUnavailable, match="FARM_KEY_UNSET"):
        registry.read_api_key(ff.printer(engine, name))


def test_clearing_a_printing_printer_is_refused_and_changes_nothing(engine: Engine) -> None:
    farm = ff.make_fablab(engine)
    name = ff.add_printer(engine, farm)
    with unit_of_work(engine) as session:
        row = registry.get_printer(session=session, name=name)
        row.state, row.bed_clear = "Printing", False
        session.add(row)
    with pytest.raises(PrinterInUse), unit_of_work(engine) as session:
        registry.clear_bed(session=session, name=name)
    assert ff.printer(engine, name).bed_clear is False


def test_unknown_printer_is_one_clear_line_on_the_cli(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.run(["--db", database_url, "farm", "clear", "nope"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == "error: unknown printer 'nope' (see 'fabcoord printers list')"


def test_adding_a_printer_whose_url_is_not_octoprint_changes_nothing(
    database_url: str,
    engine: Engine,
    plain_http_server: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    farm = ff.make_fablab(engine)
    monkeypatch.setenv("FARM_KEY_B", "whatever")
    code = cli.run(
        [
            "--db",
            database_url,
            "printers",
            "add",
            "p9",
            "--fablab",
            farm.fablab,
            "--url",
            plain_http_server,
            "--api-key-env",
            "FARM_KEY_B",
        ]
    )
    assert code == 1
    assert "does not answer as OctoPrint" in capsys.readouterr().err
    with unit_of_work(engine, read_only=True) as session, pytest.raises(UnknownPrinter):
        registry.get_printer(session=session, name="p9")
