"""``fabcoord report weekly`` end to end: the files it writes, and one-line refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import cli
from tests.test_cli_startup import imported


def run(url: str, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.run(["--db", url, "report", "weekly", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_weekly_report_command_writes_the_pdf_charts_and_data(
    database_url: str, known: dict[str, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pdf, charts = tmp_path / "out" / "s47.pdf", tmp_path / "out" / "png"
    pdf.parent.mkdir()
    code, out, err = run(database_url, capsys, "--week", "2026-W47", "--out", str(pdf), "--charts", str(charts))  # fmt: skip
    assert code == 0, err
    assert out.startswith("weekly report 2026-W47: ") and str(pdf) in out
    assert pdf.read_bytes().startswith(b"%PDF") and len(list(charts.glob("*.png"))) == 4
    code, out, err = run(database_url, capsys, "--week", "2026-W47", "--fablab", "Fablab B", "--out", str(tmp_path / "b.json"), "--format", "json")  # fmt: skip
    assert code == 0, err
    key = {r["figure"]: r["value"] for r in json.loads((tmp_path / "b.json").read_text())["tables"]["key_figures"]}  # fmt: skip
    assert key["printed"] == 8


def test_the_default_week_is_the_last_complete_one_and_an_empty_one_says_so(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(database_url, capsys, "--out", str(tmp_path / "r.pdf"))
    assert code == 0, err
    assert "(no activity that week)" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--week", "47"), "is not an ISO week like 2026-W47"),
        (("--week", "2999-W01"), "has not started yet"),
        (("--fablab", "Nowhere"), "unknown fablab 'Nowhere'"),
        (("--region", "Atlantis"), "unknown region 'Atlantis'"),
        (("--format", "docx"), "--format 'docx' is not one of: pdf, csv, xlsx, json"),
        (("--out", "/nonexistent-folder/r.pdf"), "there is no folder /nonexistent-folder"),
    ],
)
def test_bad_input_is_one_line_on_stderr_and_no_file(
    database_url: str,
    known: dict[str, int],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    message: str,
) -> None:
    target = ("--out", str(tmp_path / "out.pdf")) if "--out" not in args else ()
    code, _, err = run(database_url, capsys, *args, *target)
    assert code != 0
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "out.pdf").exists()


def test_a_database_without_schema_is_refused_in_one_line(
    empty_database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(empty_database_url, capsys, "--out", str(tmp_path / "r.pdf"))
    assert code == 2 and "fabcoord init" in err
    assert not (tmp_path / "r.pdf").exists()


def test_the_pdf_is_drawn_without_matplotlib_which_only_the_png_charts_load(
    database_url: str, known: dict[str, int], tmp_path: Path
) -> None:
    """matplotlib is the largest import of a report: the PDF draws its charts with reportlab."""
    args = ["--db", database_url, "report", "weekly", "--week", "2026-W47"]
    pdf_only = imported(*args, "--out", str(tmp_path / "r.pdf"))
    assert "reportlab" in pdf_only and "matplotlib" not in pdf_only
    with_png = imported(*args, "--out", str(tmp_path / "r.pdf"), "--charts", str(tmp_path / "png"))
    assert "matplotlib" in with_png
