"""Ranking suppliers: nearer first, then capacity that covers the need, then lead time; reasons."""

from __future__ import annotations

from sqlalchemy import Engine

from fabcoord.db import unit_of_work
from fabcoord.regions import OFFICIAL_REGIONS
from suppliers.distance import NEIGHBOURS, Distance, distance
from suppliers.matching import match
from tests.suppliers.conftest import import_samples


def test_the_neighbour_table_covers_the_18_regions_and_is_symmetric() -> None:
    assert set(NEIGHBOURS) == set(OFFICIAL_REGIONS)
    for region, others in NEIGHBOURS.items():
        for other in others:
            assert region in NEIGHBOURS[other], (region, other)
    assert distance("Occitanie", "Nouvelle-Aquitaine") is Distance.NEIGHBOURING
    assert distance("Bretagne", "Occitanie") is Distance.NATIONAL


def test_sheets_for_a_lyon_fablab_rank_the_same_region_first_with_reasons(
    reference_loaded: Engine, fablab: str
) -> None:
    import_samples(reference_loaded)
    with unit_of_work(reference_loaded, read_only=True) as session:
        found = match(session=session, item="pet-sheet-a4", fablab="Fabrique Lyon", quantity=30_000)
    assert [m.city for m in found] == ["Grenoble", "Oyonnax", "Orléans"]
    grenoble, oyonnax, orleans = found
    assert oyonnax.distance == "same region"
    assert "less than the 30000 sheet wanted" in " ".join(oyonnax.reasons)
    assert "no declared capacity" in grenoble.reasons
    assert orleans.distance == "neighbouring region"
    assert "declares 50000 sheet/week ≥ 30000 sheet wanted" in orleans.reasons


def test_for_a_fablab_far_away_capacity_and_lead_time_decide(
    reference_loaded: Engine, fablab: str
) -> None:
    import_samples(reference_loaded)
    with unit_of_work(reference_loaded, read_only=True) as session:
        found = match(session=session, item="petg", fablab=fablab)
    assert [(m.city, m.distance) for m in found] == [
        ("Lyon", "neighbouring region"),
        ("Dole", "national"),
    ]
    assert found[0].reasons[0].startswith("supplies petg")
