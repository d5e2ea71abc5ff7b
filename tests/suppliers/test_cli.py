"""The sourcing commands, through ``cli.run``: import, list, show, needs, match, purchase, trace."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine

import cli
from tests.factories import ledger_snapshot
from tests.suppliers.conftest import DIRECCTE_SAMPLE, HEADER, POLE_SAMPLE


def run(database_url: str, *args: str) -> int:
    return cli.run(["--db", database_url, "--actor", "manager", *args])


@pytest.fixture
def imported(database_url: str, fablab: str) -> str:
    assert (
        run(
            database_url,
            "suppliers",
            "import",
            str(DIRECCTE_SAMPLE),
            "--source",
            "direccte",
            "--region",
            "Auvergne-Rhône-Alpes",
        )
        == 0
    )
    assert (
        run(
            database_url,
            "suppliers",
            "import",
            str(POLE_SAMPLE),
            "--source",
            "pole",
            "--pole",
            "Plastipolis",
        )
        == 0
    )
    return database_url


def test_import_reports_what_it_did_and_a_second_import_changes_nothing(
    database_url: str, reference_loaded: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("suppliers", "import", str(DIRECCTE_SAMPLE), "--source", "direccte", "--region", "ARA")
    assert run(database_url, *args) == 1  # not one of the 18 regions' names
    assert "not one of the 18 French regions" in capsys.readouterr().err
    args = (*args[:-1], "Auvergne-Rhône-Alpes")
    assert run(database_url, *args) == 0
    assert "4 row(s), 4 new supplier(s)" in capsys.readouterr().out
    assert run(database_url, *args) == 0
    assert "imported before" in capsys.readouterr().out


def test_a_bad_file_is_one_line_on_stderr_with_line_numbers(
    database_url: str, reference_loaded: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        DIRECCTE_SAMPLE.read_text(encoding="cp1252").replace("00000002600013", "00000002600014"),
        encoding="cp1252",
    )
    assert run(database_url, "suppliers", "import", str(path), "--source", "direccte") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "line 3: SIRET 00000002600014 fails its checksum" in err
    assert run(database_url, "suppliers", "list", "--json") == 0
    assert json.loads(capsys.readouterr().out) == []


def test_list_show_match_and_needs(imported: str, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert run(imported, "suppliers", "list", "--item", "petg", "--json") == 0
    assert {s["city"] for s in json.loads(capsys.readouterr().out)} == {"Lyon", "Dole"}
    assert run(imported, "suppliers", "show", "00000001800010") == 0
    out = capsys.readouterr().out
    assert "listed by direccte: DIRECCTE Auvergne-Rhône-Alpes" in out and "pole: Plastipolis" in out
    assert (
        run(
            imported,
            "sourcing",
            "match",
            "petg",
            "--fablab",
            "Fabrique Lyon",
            "--qty",
            "100",
            "--unit",
            "kg",
        )
        == 0
    )
    out = capsys.readouterr().out
    assert out.startswith("1. #") and "same region" in out
    assert run(imported, "sourcing", "needs", "--json") == 0
    assert json.loads(capsys.readouterr().out) == []  # no demand yet


def test_purchase_from_draft_to_received_then_trace(
    imported: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], engine: Engine
) -> None:
    assert (
        run(
            imported,
            "purchase",
            "create",
            "Filaments Exemple Rhône (fictif)",
            "--item",
            "petg",
            "--qty",
            "5",
            "--unit",
            "kg",
            "--price",
            "19.90",
            "--for",
            "Fablab des Usines",
        )
        == 0
    )
    assert "purchase order 1 created (draft)" in capsys.readouterr().out
    pdf = tmp_path / "rfq.pdf"
    assert run(imported, "purchase", "pdf", "1", "--out", str(pdf)) == 0
    assert pdf.read_bytes().startswith(b"%PDF")
    assert run(imported, "purchase", "send", "1") == 0
    assert run(imported, "purchase", "confirm", "1", "--expected", "2020-04-06") == 0
    assert "purchase order 1 is now confirmed" in capsys.readouterr().out
    before = ledger_snapshot(engine)
    assert (
        run(imported, "purchase", "receive", "1", "--qty", "6", "--unit", "kg", "--lot", "L1") == 1
    )
    assert "use --over" in capsys.readouterr().err
    assert run(imported, "purchase", "receive", "99", "--qty", "1", "--lot", "L1") == 1
    assert "unknown purchase order 99" in capsys.readouterr().err
    assert ledger_snapshot(engine) == before
    assert (
        run(imported, "purchase", "receive", "1", "--qty", "5", "--unit", "kg", "--lot", "L1") == 0
    )
    assert "purchase order 1 is now received" in capsys.readouterr().out
    assert run(imported, "trace", "L1") == 0
    out = capsys.readouterr().out
    assert "purchase orders: purchase_order:1" in out
    assert run(imported, "trace", "NOPE") == 1
    assert "no ledger posting brought lot 'NOPE' in" in capsys.readouterr().err
    assert run(imported, "trace", "--shipment", "SHP-404") == 1


def test_confirming_without_a_day_for_a_supplier_without_lead_time_fails_in_one_line(
    imported: str, engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    listing = tmp_path / "list.csv"
    listing.write_text(
        f"{HEADER}\nFilaments Sans Délai (fictif);;1 rue A;69007;Lyon;Auvergne-Rhône-Alpes;;"
        "filament PETG;;\n",
        encoding="utf-8",
    )
    assert run(imported, "suppliers", "import", str(listing), "--source", "direccte") == 0
    supplier = "Filaments Sans Délai (fictif)"
    create = ("purchase", "create", supplier, "--item", "petg", "--qty", "5", "--unit", "kg")
    assert run(imported, *create, "--for", "Fablab des Usines") == 0
    assert run(imported, "purchase", "send", "1") == 0
    capsys.readouterr()
    assert run(imported, "purchase", "confirm", "1") == 1
    err = capsys.readouterr().err
    assert err.strip() == (
        f"error: purchase order 1: {supplier} declares no lead time; give the delivery day the "
        "supplier confirmed (purchase confirm 1 --expected 2026-04-20)"
    )
    assert run(imported, "purchase", "list", "--json") == 0
    (order,) = json.loads(capsys.readouterr().out)
    assert (order["state"], order["expected_on"]) == ("sent", None)
    assert run(imported, "purchase", "confirm", "1", "--expected", "2020-04-09") == 0
    assert "purchase order 1 is now confirmed, expected on 2020-04-09" in capsys.readouterr().out
