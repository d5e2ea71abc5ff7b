"""Importing supplier directories: shapes, encodings, de-duplication, all-or-nothing, idempotence."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine
from sqlmodel import col, select

from fabcoord.db import unit_of_work
from fabcoord.errors import InvalidInput
from suppliers.directory import import_directory
from suppliers.errors import DirectoryRejected
from suppliers.models import DirectoryKind, Supplier, SupplierMaterial, SupplierSource
from tests.suppliers.conftest import (
    DIRECCTE_SAMPLE,
    HEADER,
    POLE_SAMPLE,
    import_file,
    import_samples,
)

GOOD = "Exemple Un (fictif);73282932000074;1 rue A;69007;Lyon;Auvergne-Rhône-Alpes;;filament PETG;;3 jours"
GOOD_2 = "Exemple Deux (fictif);;2 rue B;42000;Saint-Étienne;Auvergne-Rhône-Alpes;;élastique plat;;"


def write(
    tmp_path: Path, lines: list[str], encoding: str = "utf-8", name: str = "list.csv"
) -> Path:
    path = tmp_path / name
    path.write_bytes("\n".join(lines).encode(encoding) + b"\n")
    return path


def suppliers(engine: Engine) -> list[Supplier]:
    with unit_of_work(engine, read_only=True) as session:
        return list(session.exec(select(Supplier).order_by(col(Supplier.id))))


def sources_of(engine: Engine, siret: str) -> set[str]:
    with unit_of_work(engine, read_only=True) as session:
        supplier = session.exec(select(Supplier).where(Supplier.siret == siret)).one()
        rows = session.exec(select(SupplierSource).where(SupplierSource.supplier_id == supplier.id))
        return {f"{row.kind.value}:{row.directory}" for row in rows}


def test_sample_directories_import_and_merge_a_company_listed_twice(
    reference_loaded: Engine,
) -> None:
    first = import_file(reference_loaded, DIRECCTE_SAMPLE, region="Auvergne-Rhône-Alpes")
    second = import_file(reference_loaded, POLE_SAMPLE, DirectoryKind.POLE, pole="plastipolis")
    assert (first.rows, first.added) == (4, 4)
    assert (second.rows, second.added, second.merged + second.unchanged) == (3, 2, 1)
    assert len(suppliers(reference_loaded)) == 6
    assert sources_of(reference_loaded, "00000001800010") == {
        "direccte:DIRECCTE Auvergne-Rhône-Alpes",
        "pole:Plastipolis",
    }
    with unit_of_work(reference_loaded, read_only=True) as session:
        codes = {(m.supplier_id, m.item_code) for m in session.exec(select(SupplierMaterial))}
        lyon = session.exec(select(Supplier).where(Supplier.city == "Lyon")).one()
    assert {(lyon.id, "petg"), (lyon.id, "pla")} <= codes
    assert lyon.lead_time_days == 3


def test_importing_the_same_file_twice_changes_nothing(reference_loaded: Engine) -> None:
    import_samples(reference_loaded)
    before = [s.model_dump() for s in suppliers(reference_loaded)]
    again = import_file(reference_loaded, DIRECCTE_SAMPLE, region="Auvergne-Rhône-Alpes")
    assert again.already_imported
    assert [s.model_dump() for s in suppliers(reference_loaded)] == before


def test_the_same_rows_in_another_file_change_nothing(
    reference_loaded: Engine, tmp_path: Path
) -> None:
    path = write(tmp_path, [HEADER, GOOD, GOOD_2])
    import_file(reference_loaded, path)
    before = [s.model_dump() for s in suppliers(reference_loaded)]
    report = import_file(reference_loaded, write(tmp_path, [HEADER, GOOD_2, GOOD], name="b.csv"))
    assert (report.added, report.merged, report.unchanged) == (0, 0, 2)
    assert [s.model_dump() for s in suppliers(reference_loaded)] == before


def test_a_listing_without_siret_merges_by_name_and_postal_code_and_gains_the_siret(
    reference_loaded: Engine, tmp_path: Path
) -> None:
    import_file(reference_loaded, write(tmp_path, [HEADER, GOOD_2]))
    later = "EXEMPLE DEUX SAS (fictif);00000001800010;;42000;Saint-Etienne;Auvergne-Rhône-Alpes;x@y.invalid;élastique;;"
    report = import_file(reference_loaded, write(tmp_path, [HEADER, later], name="b.csv"))
    assert report.merged == 1
    (only,) = suppliers(reference_loaded)
    assert (only.siret, only.contact, only.name) == (
        "00000001800010",
        "x@y.invalid",
        "Exemple Deux (fictif)",
    )


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252", "latin-1"])
def test_every_encoding_lists_really_come_in_is_read(
    reference_loaded: Engine, tmp_path: Path, encoding: str
) -> None:
    import_file(reference_loaded, write(tmp_path, [HEADER, GOOD, GOOD_2], encoding))
    assert [s.city for s in suppliers(reference_loaded)] == ["Lyon", "Saint-Étienne"]


def test_a_comma_separated_file_with_other_headers_and_a_default_region_is_read(
    reference_loaded: Engine, tmp_path: Path
) -> None:
    lines = [
        "Entreprise,Siret,CP,Ville,Produits,Email,Téléphone",
        'Exemple Trois (fictif),732 829 320 00074,1100,Oyonnax,"feuilles PETG 0,5 mm",a@b.invalid,0400',
    ]
    import_file(reference_loaded, write(tmp_path, lines), region="auvergne rhone alpes")
    (only,) = suppliers(reference_loaded)
    assert (only.siret, only.postal_code, only.contact) == (
        "73282932000074",
        "01100",
        "a@b.invalid, 0400",
    )


def test_bad_rows_are_all_reported_by_line_and_nothing_is_imported(
    reference_loaded: Engine, tmp_path: Path
) -> None:
    lines = [
        HEADER,
        GOOD,
        GOOD.replace("73282932000074", "73282932000075").replace("Exemple Un", "Autre"),
        GOOD_2.replace("Auvergne-Rhône-Alpes", "Rhône-Alpes (annexe)"),
        GOOD.replace("Exemple Un", "Exemple Un bis"),
        GOOD_2.replace("42000", "4200X").replace("Deux", "Quatre"),
    ]
    with pytest.raises(DirectoryRejected) as caught:
        import_file(reference_loaded, write(tmp_path, lines))
    message = str(caught.value)
    assert "4 row(s) rejected, nothing imported" in message
    assert "line 3: SIRET 73282932000075 fails its checksum" in message
    assert "line 4: region 'Rhône-Alpes (annexe)' is not one of the 18 French regions" in message
    assert "line 5: duplicate of line 2 (same SIRET 73282932000074)" in message
    assert "line 6: postal code '4200X' is not 5 digits" in message
    assert suppliers(reference_loaded) == []


def test_a_rejected_row_in_a_late_chunk_rolls_back_the_chunks_already_written(
    reference_loaded: Engine, tmp_path: Path
) -> None:
    rows = [GOOD_2.replace("Deux", f"N{i}") for i in range(50)]
    path = write(tmp_path, [HEADER, *rows, GOOD.replace("74;", "75;")])
    with (
        pytest.raises(DirectoryRejected, match="line 52"),
        unit_of_work(reference_loaded) as session,
    ):
        import_directory(
            session=session, path=path, kind=DirectoryKind.DIRECCTE, actor="t", chunk_rows=10
        )
    assert suppliers(reference_loaded) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (HEADER.encode() + b"\n", "no data rows"),
        (b"Nom;Ville\nx;y\n", "line 1: missing column(s) siret, postal_code, products, region"),
        (HEADER.encode() + b"\n" + GOOD.encode() + b";extra;extra\n", "not a well-formed table"),
    ],
)
def test_unusable_files_are_refused_with_a_clear_message(
    reference_loaded: Engine, tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "list.csv"
    path.write_bytes(content)
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(").replace(")", r"\)")):
        import_file(reference_loaded, path)
    assert suppliers(reference_loaded) == []


def test_an_xlsx_with_several_sheets_needs_sheet(reference_loaded: Engine, tmp_path: Path) -> None:
    path = tmp_path / "liste.xlsx"
    columns = HEADER.split(";")
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame([["notes"]], columns=["Lisez-moi"]).to_excel(
            writer, sheet_name="Notes", index=False
        )
        pd.DataFrame([GOOD.split(";"), GOOD_2.split(";")], columns=columns).to_excel(
            writer, sheet_name="Fournisseurs", index=False
        )
    with pytest.raises(
        InvalidInput, match=r"2 sheets \(Notes, Fournisseurs\): choose one with --sheet"
    ):
        import_file(reference_loaded, path)
    with pytest.raises(InvalidInput, match="no sheet 'Autre'"):
        import_file(reference_loaded, path, sheet="Autre")
    report = import_file(reference_loaded, path, sheet="Fournisseurs")
    assert report.added == 2


def test_a_pole_list_names_a_known_pole(reference_loaded: Engine) -> None:
    with pytest.raises(InvalidInput, match="unknown pôle de compétitivité 'Plastoc'"):
        import_file(reference_loaded, POLE_SAMPLE, DirectoryKind.POLE, pole="Plastoc")
    with pytest.raises(InvalidInput, match="--pole NAME"):
        import_file(reference_loaded, POLE_SAMPLE, DirectoryKind.POLE)


def test_same_name_and_postal_code_with_another_siret_is_another_establishment(
    reference_loaded: Engine, tmp_path: Path
) -> None:
    import_file(reference_loaded, write(tmp_path, [HEADER, GOOD]))
    other = GOOD.replace("73282932000074", "00000001800010")
    report = import_file(reference_loaded, write(tmp_path, [HEADER, other], name="b.csv"))
    assert report.added == 1
    assert len(suppliers(reference_loaded)) == 2
