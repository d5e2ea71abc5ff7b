"""Checking SIRETs, postal codes, names, products, capacities and lead times from directories."""

from __future__ import annotations

import pytest

from suppliers.normalise import (
    capacity_per_week,
    clean_postal_code,
    lead_time_days,
    materials,
    name_key,
    siret_problem,
)


@pytest.mark.parametrize(
    "siret",
    [
        "73282932000074",  # a SIRET published as a Luhn example
        "35600000000048",  # La Poste's head office: passes Luhn too
        "35600000049837",  # a La Poste establishment: fails Luhn, digits sum to a multiple of 5
    ],
)
def test_valid_sirets_pass(siret: str) -> None:
    assert siret_problem(siret) is None


@pytest.mark.parametrize(
    ("siret", "why"),
    [
        ("73282932000075", "checksum"),
        ("35600000049838", "checksum"),
        ("7328293200007", "14 digits"),
        ("7328293200007A", "14 digits"),
    ],
)
def test_invalid_sirets_say_why(siret: str, why: str) -> None:
    assert why in (siret_problem(siret) or "")


def test_postal_codes_regain_a_lost_leading_zero_and_refuse_garbage() -> None:
    assert clean_postal_code("1100") == "01100"
    assert clean_postal_code("69 007") == "69007"
    assert clean_postal_code("Lyon") is None


def test_names_compare_without_accents_case_or_legal_form() -> None:
    assert name_key("Société Plastiques Rhône SAS") == name_key("PLASTIQUES RHONE")


@pytest.mark.parametrize(
    ("products", "items"),
    [
        ("feuilles PETG 0,5 mm", ["pet-sheet-a4"]),
        ("élastique plat", ["elastic"]),
        ("filament PETG 1,75 mm, filament PLA", ["petg", "pla"]),
        ("films PVC transparents 200 µm; bande élastique", ["pet-sheet-a4", "elastic"]),
        ("usinage de précision", []),
    ],
)
def test_products_map_to_catalogue_items(products: str, items: list[str]) -> None:
    assert [m.item_code for m in materials(products)] == items


def test_capacity_and_lead_time_are_read_in_base_units() -> None:
    assert capacity_per_week("300 kg/semaine", "g") == 300_000
    assert capacity_per_week("5 km/jour", "mm") == 35_000_000
    assert capacity_per_week("20 000 feuilles/semaine", "sheet") == 20_000
    assert capacity_per_week("300 kg/semaine", "sheet") is None
    assert capacity_per_week("beaucoup", "g") is None
    assert lead_time_days("2 semaines") == 14
    assert lead_time_days("48 h") == 2
    assert lead_time_days("5 jours") == 5
