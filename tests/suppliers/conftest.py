"""Fixtures for sourcing: the reference data loaded, the sample directories, a fablab."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from fabcoord import fablabs
from fabcoord.config import PROJECT_DATA_DIR, Settings
from fabcoord.db import unit_of_work
from fabcoord.reference import load_reference_data
from suppliers.directory import ImportReport, import_directory
from suppliers.models import DirectoryKind

SAMPLES = PROJECT_DATA_DIR / "samples"
DIRECCTE_SAMPLE = SAMPLES / "SAMPLE_direccte_auvergne-rhone-alpes.csv"
POLE_SAMPLE = SAMPLES / "SAMPLE_pole_plastipolis.csv"
HEADER = "Raison sociale;SIRET;Adresse;Code postal;Commune;Région;Contact;Produits;Capacité;Délai"


@pytest.fixture
def reference_loaded(engine: Engine, settings: Settings) -> Engine:
    with unit_of_work(engine) as session:
        load_reference_data(session=session, data_dir=settings.data_dir)
    return engine


@pytest.fixture
def fablab(reference_loaded: Engine) -> str:
    with unit_of_work(reference_loaded) as session:
        fablabs.add_fablab(
            session=session, name="Fablab des Usines", city="Ligugé", region="Nouvelle-Aquitaine"
        )
        fablabs.add_fablab(
            session=session, name="Fabrique Lyon", city="Lyon", region="Auvergne-Rhône-Alpes"
        )
    return "fablab-des-usines"


def import_file(
    engine: Engine,
    path: Path,
    kind: DirectoryKind = DirectoryKind.DIRECCTE,
    **options: str,
) -> ImportReport:
    with unit_of_work(engine) as session:
        return import_directory(session=session, path=path, kind=kind, actor="tester", **options)


def import_samples(engine: Engine) -> None:
    import_file(engine, DIRECCTE_SAMPLE, region="Auvergne-Rhône-Alpes")
    import_file(engine, POLE_SAMPLE, DirectoryKind.POLE, pole="Plastipolis")
