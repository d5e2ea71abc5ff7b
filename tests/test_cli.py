"""The fabcoord command, end to end on both databases: outputs, --json, and clean failures."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

import cli
from tests.factories import Runner, database_snapshot

FABLAB = "fablab/fablab-des-usines"


@pytest.fixture
def fabcoord(database_url: str, capsys: pytest.CaptureFixture[str]) -> Runner:
    runner = Runner(database_url, capsys)
    runner.ok("reference", "load")
    runner.ok(
        "fablab", "add", "Fablab des Usines", "--city", "Ligugé", "--region", "Nouvelle-Aquitaine"
    )
    return runner


def test_receive_move_show_and_reverse(fabcoord: Runner) -> None:
    out = fabcoord.ok(
        "stock",
        "receive",
        "petg",
        "2.5",
        "--unit",
        "kg",
        "--to",
        FABLAB,
        "--ref",
        "BL-1",
        "--lot",
        "SPOOL-1",
    )
    assert "2500 g petg lot SPOOL-1" in out
    fabcoord.ok(
        "stock", "move", "petg", "500", "--from", FABLAB, "--to", "scrap", "--lot", "SPOOL-1"
    )
    rows = fabcoord.json("stock", "show", "--item", "petg")
    assert {(r["location"], r["qty"]) for r in rows} == {(FABLAB, 2000), ("scrap", 500)}  # type: ignore[index,union-attr]
    moves = fabcoord.json("ledger", "show", "--doc", "receipt:BL-1")
    assert [(m["qty"], m["location"]) for m in moves] == [(-2500, "supplier"), (2500, FABLAB)]  # type: ignore[index,union-attr]
    fabcoord.ok("ledger", "reverse", "2", "--reason", "scrapped by mistake")
    rows = fabcoord.json("stock", "show", "--item", "petg")
    assert {(r["location"], r["qty"]) for r in rows} == {(FABLAB, 2500)}  # type: ignore[index,union-attr]
    assert "balance cache agrees" in fabcoord.ok("ledger", "check")


def test_stock_as_of_a_past_time_and_adjustments(fabcoord: Runner) -> None:
    fabcoord.ok("stock", "receive", "pet-sheet-a4", "100", "--to", FABLAB, "--ref", "BL-2")
    fabcoord.ok(
        "stock", "adjust", "pet-sheet-a4", "--at", FABLAB, "--by", "-12", "--reason", "count"
    )
    assert fabcoord.json("stock", "show", "--location", FABLAB)[0]["qty"] == 88  # type: ignore[index]
    assert fabcoord.json("stock", "show", "--as-of", "2020-03-01") == []
    adjustments = fabcoord.json("ledger", "show", "--doc", "adjustment")
    assert {m["note"] for m in adjustments} == {"count"}  # type: ignore[index,union-attr]


@pytest.mark.parametrize(
    "args",
    [
        ("stock", "adjust", "petg", "--at", FABLAB, "--by", "-12", "--reason", "count"),
        ("stock", "move", "petg", "5", "--from", FABLAB, "--to", "fablab/fablab-de-poitiers"),
    ],
    ids=["adjust", "move"],
)
def test_a_retried_manual_operation_with_a_key_posts_once(
    fabcoord: Runner, args: tuple[str, ...]
) -> None:
    fabcoord.ok(
        "fablab",
        "add",
        "Fablab de Poitiers",
        "--city",
        "Poitiers",
        "--region",
        "Nouvelle-Aquitaine",
    )
    fabcoord.ok("stock", "receive", "petg", "100", "--to", FABLAB, "--ref", "BL-9")
    first = fabcoord.ok(*args, "--key", "RETRY-1")
    again = fabcoord.ok(*args, "--key", "RETRY-1")
    assert first.split(":")[0] == again.split(":")[0]  # "move N"
    assert fabcoord.json("stock", "show", "--location", FABLAB)[0]["qty"] in (88, 95)  # type: ignore[index]


def test_a_move_without_lot_names_the_lots_held(fabcoord: Runner) -> None:
    fabcoord.ok("stock", "receive", "petg", "100", "--to", FABLAB, "--ref", "BL-8", "--lot", "S-1")
    code, _, err = fabcoord("stock", "move", "petg", "5", "--from", FABLAB, "--to", "transit")
    assert code == 1 and "holds petg in lot(s) S-1" in err


def test_same_key_posts_once(fabcoord: Runner) -> None:
    args = (
        "stock",
        "receive",
        "elastic",
        "10",
        "--unit",
        "m",
        "--to",
        FABLAB,
        "--ref",
        "BL-3",
        "--key",
        "k",
    )
    fabcoord.ok(*args)
    fabcoord.ok(*args)
    assert fabcoord.json("stock", "show", "--item", "elastic")[0]["qty"] == 10_000  # type: ignore[index]


def test_lists_have_json(fabcoord: Runner) -> None:
    assert fabcoord.json("fablab", "list")[0]["stock_location"] == FABLAB  # type: ignore[index]
    assert {i["code"] for i in fabcoord.json("item", "list")} >= {"petg", "visor"}  # type: ignore[union-attr,index]
    assert len(fabcoord.json("reference", "hospitals")) == 32  # type: ignore[arg-type]
    assert any(loc["virtual"] for loc in fabcoord.json("location", "list"))  # type: ignore[union-attr,index]


BAD_INPUTS = [
    (("stock", "receive", "nope", "5", "--to", FABLAB, "--ref", "B"), "unknown item 'nope'"),
    (
        ("stock", "receive", "petg", "5", "--to", "nowhere", "--ref", "B"),
        "unknown location 'nowhere'",
    ),
    (
        ("stock", "receive", "petg", "5", "--unit", "lbs", "--to", FABLAB, "--ref", "B"),
        "unknown unit",
    ),
    (("stock", "receive", "petg", "0", "--to", FABLAB, "--ref", "B"), "must not be zero"),
    (("stock", "receive", "petg", "-5", "--to", FABLAB, "--ref", "B"), "must be positive"),
    (("stock", "receive", "petg", "cinq", "--to", FABLAB, "--ref", "B"), "not a number"),
    (("stock", "receive", "visor", "1.5", "--to", FABLAB, "--ref", "B"), "whole number"),
    (("stock", "receive", "petg", "5", "--to", FABLAB), "Missing option '--ref'"),
    (("stock", "move", "petg", "5", "--from", FABLAB, "--to", "scrap"), "not enough petg"),
    (("stock", "move", "petg", "5", "--from", FABLAB, "--to", "scrap", "--doc", "x"), "TYPE:ID"),
    (("stock", "adjust", "petg", "--at", FABLAB, "--by", "5", "--reason", " "), "must say why"),
    (("stock", "show", "--as-of", "hier"), "not an ISO date"),
    (("ledger", "reverse", "999", "--reason", "x"), "unknown move 999"),
    (("ledger", "reverse", "abc", "--reason", "x"), "MOVE_ID"),
    (("fablab", "add", "X", "--city", "Y", "--region", "Atlantide"), "unknown region"),
    (
        ("fablab", "add", "Fablab des Usines", "--city", "Y", "--region", "Bretagne"),
        "exists already",
    ),
    (("item", "add", "resin", "--name", "Resin", "--kind", "liquid", "--unit", "g"), "--kind"),
    (("frobnicate",), "No such command"),
    (("stock", "move", "petg", "5", "--from", FABLAB, "--to", FABLAB), "two different locations"),
    (("stock", "move", "petg", "5", "--from", "supplier", "--to", FABLAB), "virtual location"),
    (
        ("stock", "receive", "petg", "5", "--from", FABLAB, "--to", "transit", "--ref", "B"),
        "supplier or partner",
    ),
    (
        ("stock", "adjust", "petg", "--at", "supplier", "--by", "5", "--reason", "x"),
        "virtual location",
    ),
    (
        ("stock", "receive", "petg", "5", "--to", FABLAB, "--ref", "B", "--lot", "L" * 81),
        "at most 80",
    ),
    (
        ("stock", "receive", "petg", "5", "--to", FABLAB, "--ref", "B", "--key", "K" * 201),
        "1 to 200",
    ),
    (("stock", "receive", "petg", "5", "--to", FABLAB, "--ref", "B" * 121), "at most 120"),
    (("item", "add", "c" * 70, "--name", "C", "--kind", "part", "--unit", "pcs"), "1 to 64"),
    (
        ("item", "add", "resin", "--name", "R" * 201, "--kind", "part", "--unit", "pcs"),
        "at most 200",
    ),
    (("ledger", "reverse", "99999999999", "--reason", "x"), "MOVE_ID"),
    (("ledger", "show", "--move", "99999999999"), "--move"),
]


@pytest.mark.parametrize(
    ("args", "message"), BAD_INPUTS, ids=[" ".join(a[:3]) for a, _ in BAD_INPUTS]
)
def test_bad_input_is_one_clear_line_and_changes_nothing(
    fabcoord: Runner, engine: Engine, args: tuple[str, ...], message: str
) -> None:
    before = database_snapshot(engine)
    code, out, err = fabcoord(*args)
    assert code != 0
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert message in err
    assert "Traceback" not in out + err
    assert database_snapshot(engine) == before


def test_reversing_a_reversal_is_refused(fabcoord: Runner, engine: Engine) -> None:
    fabcoord.ok("stock", "receive", "petg", "5", "--to", FABLAB, "--ref", "B")
    fabcoord.ok("ledger", "reverse", "1", "--reason", "typo")
    before = database_snapshot(engine)
    code, _, err = fabcoord("ledger", "reverse", "2", "--reason", "again")
    assert code == 1 and "itself the reversal of move 1" in err
    assert database_snapshot(engine) == before


def test_a_schema_newer_than_the_code_is_refused(fabcoord: Runner, engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE alembic_version SET version_num = '9999' WHERE version_num = (SELECT MIN(version_num) FROM alembic_version)"
            )
        )
    code, _, err = fabcoord("stock", "show")
    assert code == 2 and "newer fabcoord" in err
    code, _, err = fabcoord("init")
    assert code == 2 and "newer fabcoord" in err


def test_database_problems_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    not_a_db = tmp_path / "notes.db"
    not_a_db.write_text("these are my notes, not a database\n" * 100)
    cases = [
        (f"sqlite:///{not_a_db}", "is not a SQLite database"),
        ("postgresql+psycopg://postgres@127.0.0.1:1/none", "cannot reach database"),
        (f"sqlite:///{tmp_path}/missing/folder.db", "cannot open database"),
        (f"sqlite:///{tmp_path}/fresh.db", "fabcoord init"),
        ("mysql://root@localhost/x", "invalid setting database_url"),
    ]
    for url, message in cases:
        code = cli.run(["--db", url, "stock", "show"])
        _, err = capsys.readouterr()
        assert code != 0 and message in err and err.count("\n") == 1, (url, err)
    assert not_a_db.read_text().startswith("these are my notes")


def test_the_installed_command_never_shows_a_traceback(tmp_path: Path) -> None:
    executable = shutil.which("fabcoord", path=str(Path(sys.executable).parent))
    assert executable is not None
    env = {**os.environ, "FABCOORD_DATABASE_URL": f"sqlite:///{tmp_path / 'f.db'}"}
    done = subprocess.run(
        [executable, "init"], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    done = subprocess.run(
        [executable, "stock", "receive", "petg", "abc", "--to", "x", "--ref", "y"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr == "error: quantity 'abc' is not a number\n"
