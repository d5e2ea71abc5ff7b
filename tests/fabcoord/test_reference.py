"""Loading the reference data: idempotent, reports changes, refuses broken files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from fabcoord.config import PROJECT_DATA_DIR
from fabcoord.db import unit_of_work
from fabcoord.errors import InvalidInput, UnknownHospital
from fabcoord.ledger import catalogue
from fabcoord.ledger.models import LocationKind
from fabcoord.records import CompetitivenessCluster, Direccte, Hospital, Region
from fabcoord.reference import get_hospital, load_reference_data
from fabcoord.regions import OFFICIAL_REGIONS, canonical_region


def load(engine: Engine, data_dir: Path = PROJECT_DATA_DIR):  # type: ignore[no-untyped-def]
    with unit_of_work(engine) as session:
        return load_reference_data(session=session, data_dir=data_dir)


def test_first_load_adds_every_record_and_a_location_per_hospital(engine: Engine) -> None:
    report = load(engine)
    assert report.added == {"regions": 18, "hospitals": 32, "direccte": 18, "clusters": 57}
    with unit_of_work(engine, read_only=True) as session:
        assert len(session.exec(select(Hospital)).all()) == 32
        assert len(session.exec(select(Direccte)).all()) == 18
        assert len(session.exec(select(CompetitivenessCluster)).all()) == 57
        hospitals = catalogue.list_locations(session=session, kind=LocationKind.HOSPITAL)
        assert "hospital/chu-de-nantes" in {location.code for location in hospitals}
        nantes = get_hospital(session=session, name="CHU de Nantes")
        assert (nantes.city, nantes.finess) == ("Nantes", "440000289")


def test_second_load_changes_nothing_and_says_so(engine: Engine) -> None:
    load(engine)
    report = load(engine)
    assert not report.changed
    assert report.unchanged["hospitals"] == 32


def test_a_corrected_row_is_reported_as_updated(engine: Engine, tmp_path: Path) -> None:
    load(engine)
    data = tmp_path / "data"
    shutil.copytree(PROJECT_DATA_DIR, data)
    chu = data / "chu.csv"
    chu.write_text(
        chu.read_text(encoding="utf-8").replace(
            "CHU de Poitiers,Poitiers,Nouvelle-Aquitaine,",
            "CHU de Poitiers,Poitiers,Nouvelle-Aquitaine,860014208",
        ),
        encoding="utf-8",
    )
    report = load(engine, data)
    assert report.updated == {"hospitals": 1}
    assert report.changes == ["updated hospital CHU de Poitiers: finess '' → '860014208'"]
    with unit_of_work(engine, read_only=True) as session:
        assert get_hospital(session=session, name="chu-de-poitiers").finess == "860014208"


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda p: p.unlink(), "not found"),
        (lambda p: p.write_text("nom,ville\nx,y\n", encoding="utf-8"), "missing column"),
        (lambda p: p.write_bytes(b"name,city,region,finess\n\xff\xfe\x00bad\n"), "UTF-8"),
    ],
)
def test_a_broken_reference_file_is_refused_and_nothing_is_loaded(
    engine: Engine,
    tmp_path: Path,
    damage,
    message: str,  # type: ignore[no-untyped-def]
) -> None:
    data = tmp_path / "data"
    shutil.copytree(PROJECT_DATA_DIR, data)
    damage(data / "chu.csv")
    with pytest.raises(InvalidInput, match=message):
        load(engine, data)
    with unit_of_work(engine, read_only=True) as session:
        assert session.exec(select(Hospital)).all() == []


def test_unknown_hospital_is_named(engine: Engine) -> None:
    load(engine)
    with pytest.raises(UnknownHospital, match="CHU de Nulle-Part"), unit_of_work(engine) as session:
        get_hospital(session=session, name="CHU de Nulle-Part")


def test_only_the_eighteen_official_regions_are_loaded(engine: Engine) -> None:
    load(engine)
    with unit_of_work(engine, read_only=True) as session:
        names = {region.name for region in session.exec(select(Region))}
        polymeris = session.exec(
            select(CompetitivenessCluster).where(CompetitivenessCluster.name == "Polymeris")
        ).one()
    assert names == set(OFFICIAL_REGIONS)
    assert polymeris.regions == "Auvergne-Rhône-Alpes; Centre-Val de Loire"


def test_a_note_in_a_regions_field_is_refused_with_its_line_not_made_a_region(
    engine: Engine, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    shutil.copytree(PROJECT_DATA_DIR, data)
    poles = data / "poles_competitivite.csv"
    poles.write_text(
        poles.read_text(encoding="utf-8").replace(
            "Polymeris,Auvergne-Rhône-Alpes; Centre-Val de Loire,",
            'Polymeris,"Auvergne-Rhône-Alpes (siège Lyon; annexes Oyonnax, Orléans)",',
        ),
        encoding="utf-8",
    )
    with pytest.raises(InvalidInput, match=r"poles_competitivite.csv line 38: .*siège Lyon"):
        load(engine, data)
    with unit_of_work(engine, read_only=True) as session:
        assert session.exec(select(Region)).all() == []


def test_a_region_spelled_differently_is_recognised() -> None:
    assert canonical_region("ile de france") == "Île-de-France"
    assert canonical_region("PACA") == "Provence-Alpes-Côte d'Azur"
    assert canonical_region("Orléans") is None
