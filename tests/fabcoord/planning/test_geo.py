"""The city table: every CHU city is in it, distances are right, unknown cities name the table."""

from __future__ import annotations

import csv

import pytest

from fabcoord.config import PROJECT_DATA_DIR
from fabcoord.geo import CityTable, UnknownCity, distance_km


def test_every_chu_city_has_coordinates() -> None:
    table = CityTable.load(PROJECT_DATA_DIR)
    with (PROJECT_DATA_DIR / "chu.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            for city in row["city"].split(";"):
                table.locate(city, row["region"])


def test_distances_are_great_circle_kilometres() -> None:
    table = CityTable.load(PROJECT_DATA_DIR)
    paris, lyon = table.locate("Paris"), table.locate("lyon")
    assert 385 < distance_km(paris, lyon) < 400


def test_a_city_shared_by_two_regions_is_told_apart_by_region() -> None:
    table = CityTable.load(PROJECT_DATA_DIR)
    assert table.locate("Saint-Denis", "La Réunion").latitude < 0
    assert table.locate("Saint-Denis", "Île-de-France").latitude > 48


def test_an_unknown_city_names_the_table_to_add_it_to() -> None:
    table = CityTable.load(PROJECT_DATA_DIR)
    with pytest.raises(UnknownCity, match=r"unknown city 'Atlantis'.*cities\.csv"):
        table.locate("Atlantis")
