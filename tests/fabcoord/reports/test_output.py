"""The weekly report as files: the PDF (rendered to PNG and read back), charts, data exports, and
output that is written whole or not at all."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from pypdf import PdfReader
from sqlalchemy import Engine

from fabcoord.reports.output import ReportNotWritten
from fabcoord.reports.weekly import ReportFormat, write
from tests.fabcoord.reports.test_figures import report


def pdf_text(path: Path) -> str:
    """The text of every page, each run of white space as one space (table cells come one a line)."""
    return " ".join(" ".join(page.extract_text() for page in PdfReader(path).pages).split())


def rendered_pages(pdf: Path, folder: Path) -> list[Path]:
    """Every page of ``pdf`` as a PNG, drawn by poppler's pdftoppm."""
    if shutil.which("pdftoppm") is None:
        pytest.fail("pdftoppm is missing: run scripts/ensure-poppler.sh (Debian poppler-utils)")
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(pdf), str(folder / "page")], check=True)
    return sorted(folder.glob("page-*.png"))


def ink(png: Path) -> float:
    """Share of pixels that are not white."""
    from matplotlib.image import imread

    pixels = imread(png)[..., :3]
    return float((pixels.min(axis=2) < 0.9).mean())


def test_the_pdf_has_pages_that_are_not_blank_and_shows_the_figures(
    engine: Engine, known: dict[str, int], tmp_path: Path
) -> None:
    out = tmp_path / "rapport.pdf"
    written = write(report(engine, week="2026-W47"), out=out)
    assert written == [out]
    pages = rendered_pages(out, tmp_path)
    assert len(pages) >= 3
    assert all(ink(page) > 0.005 for page in pages)
    text = pdf_text(out)
    for expected in (
        "Rapport hebdomadaire de production — 2026-W47",
        "du 16/11/2026 au 22/11/2026",
        "Montures imprimées 16 8 +8",
        "Pièces livrées aux hôpitaux 6 0 +6",
        "Taux d'échec d'impression 20,0 %",
        "CHU de Poitiers",
        "Fablab B",
        "postgresql+psycopg://fab:***@db/fab",
        "page 1 / ",
        "Lots libérés",
        "LOT-2026-0001",
        "Visières libérées (lots) 8 5 +3",
    ):
        assert expected in text, expected
    assert "secret" not in text


def test_an_empty_week_is_an_honest_no_activity_report(
    engine: Engine, known: dict[str, int], tmp_path: Path
) -> None:
    out = tmp_path / "vide.pdf"
    write(report(engine, week="2026-W40"), out=out)
    assert all(ink(page) > 0.005 for page in rendered_pages(out, tmp_path))
    text = pdf_text(out)
    assert "Aucune activité enregistrée cette semaine." in text
    assert "Montures imprimées 0 0" in text


def test_charts_are_written_as_png_files_beside_the_report(
    engine: Engine, known: dict[str, int], tmp_path: Path
) -> None:
    charts = tmp_path / "graphiques"
    written = write(report(engine, week="2026-W47"), out=tmp_path / "r.pdf", charts=charts)
    pngs = sorted(p.name for p in charts.iterdir())
    assert pngs == [
        "carnet_vs_capacite.png",
        "livraisons_hopitaux.png",
        "matieres.png",
        "production_quotidienne.png",
    ]
    assert len(written) == 5
    assert all(ink(charts / name) > 0.01 for name in pngs)


def test_exports_hold_the_same_figures_as_the_pdf(
    engine: Engine, known: dict[str, int], tmp_path: Path
) -> None:
    result = report(engine, week="2026-W47")
    write(result, out=tmp_path / "r.json", fmt=ReportFormat.JSON)
    document = json.loads((tmp_path / "r.json").read_text())
    assert document["meta"]["week"] == "2026-W47"
    key = {row["figure"]: row for row in document["tables"]["key_figures"]}
    assert (key["printed"]["value"], key["printed"]["previous"]) == (16, 8)
    assert (key["released"]["value"], key["released"]["previous"]) == (8, 5)
    write(result, out=tmp_path / "r.xlsx", fmt=ReportFormat.XLSX)
    hospitals = pd.read_excel(tmp_path / "r.xlsx", sheet_name="hospitals")
    assert list(hospitals["ordered"]) == [20, 5]
    written = write(result, out=tmp_path / "r.csv", fmt=ReportFormat.CSV)
    assert tmp_path / "r.csv" in written and tmp_path / "r.fablabs.csv" in written
    fablab_rows = pd.read_csv(tmp_path / "r.fablabs.csv")
    assert list(fablab_rows["printed"]) == [8, 8]
    assert pd.read_csv(tmp_path / "r.csv").set_index("figure").loc["shipped", "value"] == 6


@pytest.mark.parametrize("target", ["missing-folder/r.pdf", "a-file/r.pdf", "."])
def test_an_output_that_cannot_be_written_is_refused_and_nothing_is_left(
    engine: Engine, known: dict[str, int], tmp_path: Path, target: str
) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "a-file").write_text("not a folder")
    before = sorted(folder.rglob("*"))
    with pytest.raises(ReportNotWritten, match="cannot write"):
        write(report(engine, week="2026-W47"), out=folder / target)
    assert sorted(folder.rglob("*")) == before


def test_a_failure_while_writing_leaves_the_previous_file_untouched(
    engine: Engine, known: dict[str, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    out = folder / "r.pdf"
    out.write_bytes(b"last week's report")

    def disk_full(_: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(ReportNotWritten, match="No space left on device"):
        write(report(engine, week="2026-W47"), out=out)
    assert out.read_bytes() == b"last week's report"
    assert [p.name for p in folder.iterdir()] == ["r.pdf"]


def test_long_tables_are_cut_into_chunks_that_each_repeat_the_header() -> None:
    from reportlab.platypus import Table

    from fabcoord.reports import pdf

    rows = [[f"Hôpital {n}", str(n)] for n in range(95)]
    tables = [f for f in pdf._tables(rows, ["Hôpital", "Livré"], [100.0, 50.0]) if isinstance(f, Table)]  # fmt: skip
    assert [len(t._cellvalues) for t in tables] == [41, 41, 16]  # 40, 40, 15 rows + header
    assert all(t._cellvalues[0][0].text == "<b>Hôpital</b>" for t in tables)
