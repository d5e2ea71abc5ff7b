"""Reading directory files: XLSX streamed with cells as people see them, oversized files refused."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import Engine

from fabcoord.errors import InvalidInput
from suppliers import files
from suppliers.errors import DirectoryRejected
from tests.suppliers.conftest import HEADER, import_file


def workbook(path: Path, rows: list[list[object]]) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Fournisseurs"
    sheet.append(HEADER.split(";"))
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


ROW: list[object] = [
    "Exemple (fictif)",
    73282932000074,
    "1 rue A",
    1100,
    "Oyonnax",
    "Auvergne-Rhône-Alpes",
    None,
    "feuilles PETG 0,5 mm",
    None,
    3,
]


def test_an_xlsx_is_streamed_in_chunks_with_numbers_read_as_written(tmp_path: Path) -> None:
    path = workbook(tmp_path / "liste.xlsx", [ROW, [None] * 10, ROW])
    source = files.open_directory(path, sheet=None, region_given=False)
    chunks = list(files.chunks(source, chunk_rows=2))
    assert [len(c) for c in chunks] == [1, 1]
    first = chunks[0].iloc[0]
    assert (first.siret, first.postal_code, first.lead_time, first.line) == (
        "73282932000074",
        "1100",
        "3",
        2,
    )
    assert chunks[1].iloc[0].line == 4


def test_rejected_xlsx_rows_are_named_by_their_row_number(
    reference_loaded: Engine, tmp_path: Path
) -> None:
    bad = [*ROW[:5], "Rhône-Alpes", *ROW[6:]]
    path = workbook(tmp_path / "liste.xlsx", [ROW, [None] * 10, bad])
    with pytest.raises(DirectoryRejected, match="line 4: region 'Rhône-Alpes' is not one of"):
        import_file(reference_loaded, path)


def test_a_200_mb_csv_is_refused_before_any_row_is_read(
    reference_loaded: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "enorme.csv"
    with path.open("wb") as handle:
        handle.write(HEADER.encode() + b"\n")
        handle.truncate(200_000_000)  # sparse: no 200 MB written
    with pytest.raises(InvalidInput, match=r"the file is 200 MB, more than the 64 MB .* split"):
        import_file(reference_loaded, path)


def test_an_xlsx_unpacking_past_the_limit_is_refused(
    reference_loaded: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = workbook(tmp_path / "liste.xlsx", [ROW] * 50)
    monkeypatch.setattr(files, "MAX_XLSX_UNPACKED_BYTES", 1000)
    with pytest.raises(InvalidInput, match=r"its sheets unpack to .*nothing imported"):
        import_file(reference_loaded, path)


def test_an_xlsx_sheet_broken_past_its_first_rows_is_refused_with_its_row(tmp_path: Path) -> None:
    import zipfile

    good = workbook(tmp_path / "bonne.xlsx", [ROW] * 50)
    broken = tmp_path / "tronquee.xlsx"
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(broken, "w") as target:
        for entry in source.infolist():
            data = source.read(entry)
            if entry.filename == "xl/worksheets/sheet1.xml":
                data = data[: len(data) * 2 // 3]  # the sheet's XML stops mid-row
            target.writestr(entry, data)
    source_file = files.open_directory(broken, sheet=None, region_given=False)
    with pytest.raises(InvalidInput, match=r"sheet 'Fournisseurs' unreadable at row \d+"):
        list(files.chunks(source_file, chunk_rows=10))
