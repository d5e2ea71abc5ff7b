"""Registering fablabs."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from fabcoord.config import PROJECT_DATA_DIR
from fabcoord.db import unit_of_work
from fabcoord.errors import AlreadyExists, InvalidInput
from fabcoord.fablabs import add_fablab, list_fablabs, slugify
from fabcoord.ledger import catalogue
from fabcoord.reference import load_reference_data


@pytest.fixture
def loaded(engine: Engine) -> Engine:
    with unit_of_work(engine) as session:
        load_reference_data(session=session, data_dir=PROJECT_DATA_DIR)
    return engine


def test_a_fablab_gets_a_stock_location(loaded: Engine) -> None:
    with unit_of_work(loaded) as session:
        fablab = add_fablab(
            session=session,
            name="Fablab des Usines",
            city="Ligugé",
            region="nouvelle aquitaine",
            contact="a@b.example",
        )
    assert fablab.stock_location == "fablab/fablab-des-usines"
    assert fablab.region == "Nouvelle-Aquitaine"
    with unit_of_work(loaded, read_only=True) as session:
        assert catalogue.get_location(session=session, code=fablab.stock_location).fablab_id
        assert [f.slug for f in list_fablabs(session=session, region="Nouvelle-Aquitaine")] == [
            "fablab-des-usines"
        ]


@pytest.mark.parametrize(
    ("name", "city", "region", "error"),
    [
        ("", "Nantes", "Pays de la Loire", InvalidInput),
        ("x" * 121, "Nantes", "Pays de la Loire", InvalidInput),
        ("Ping", "", "Pays de la Loire", InvalidInput),
        ("Ping", "Nantes", "Atlantis", InvalidInput),
        ("!!!", "Nantes", "Pays de la Loire", InvalidInput),
    ],
)
def test_bad_fablab_input_is_refused(
    loaded: Engine, name: str, city: str, region: str, error: type[Exception]
) -> None:
    with pytest.raises(error), unit_of_work(loaded) as session:
        add_fablab(session=session, name=name, city=city, region=region)


def test_a_fablab_name_is_unique_ignoring_case_and_accents(loaded: Engine) -> None:
    with unit_of_work(loaded) as session:
        add_fablab(session=session, name="Fabrique Élan", city="Nantes", region="Pays de la Loire")
    with pytest.raises(AlreadyExists), unit_of_work(loaded) as session:
        add_fablab(session=session, name="fabrique elan", city="Nantes", region="Pays de la Loire")


def test_slugify_folds_accents_and_punctuation() -> None:
    assert slugify("CHU de Saint-Étienne") == "chu-de-saint-etienne"
    assert slugify("  Hôpital (AP-HP)  ") == "hopital-ap-hp"
