"""Needs: what runs short, how much and when, from demand, bills of materials, stock and orders."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import Engine
from sqlmodel import Session

from fabcoord.db import unit_of_work
from fabcoord.reference import get_hospital
from suppliers import purchasing
from suppliers.needs import Need, compute_needs
from tests.factories import receive
from tests.suppliers.conftest import import_samples

TODAY = date(2020, 4, 1)


@dataclass(frozen=True)
class Line:
    reference: str
    hospital_id: int
    item_code: str
    quantity: int
    needed_by: date
    fablab_id: int | None = None


def demand_of(lines: list[Line]):  # type: ignore[no-untyped-def]
    def read(session: Session) -> list[Line]:
        return lines

    return read


def poitiers(engine: Engine) -> int:
    with unit_of_work(engine, read_only=True) as session:
        return get_hospital(session=session, name="CHU de Poitiers").id or 0


def needs(engine: Engine, lines: list[Line], **options: object) -> dict[str, Need]:
    with unit_of_work(engine, read_only=True) as session:
        found = compute_needs(
            session=session,
            today=TODAY,
            read_demand=demand_of(lines),
            **options,  # type: ignore[arg-type]
        )
    return {n.item: n for n in found}


def test_open_demand_is_met_from_the_hospitals_region_and_says_when_material_runs_out(
    reference_loaded: Engine, fablab: str
) -> None:
    chu = poitiers(reference_loaded)
    receive(reference_loaded, item="petg", qty=1_000, to="fablab/fablab-des-usines", lot="S1")
    receive(reference_loaded, item="pet-sheet-a4", qty=500, to="fablab/fablab-des-usines")
    receive(reference_loaded, item="visor", qty=10, to="fablab/fablab-des-usines")
    lines = [
        Line("CMD-1", chu, "visor", 30, TODAY + timedelta(days=2)),
        Line("CMD-2", chu, "visor", 100, TODAY + timedelta(days=5)),
        Line("CMD-3", chu, "visor", 999, TODAY + timedelta(days=60)),  # beyond the horizon
    ]
    found = needs(reference_loaded, lines, elastic_mm=300)
    petg = found["petg"]
    assert petg.site == "Nouvelle-Aquitaine (unplanned demand, 1 fablab(s))"
    # 120 visors to make after the 10 on hand: 120 frames × 24.4 g = 2928 g; 1000 g cover 40 frames
    assert (petg.required, petg.on_hand, petg.short) == (2928, 1000, 1928)
    assert petg.runs_out_on == TODAY + timedelta(days=5)
    sheets = found["pet-sheet-a4"]
    assert (sheets.required, sheets.short, sheets.runs_out_on) == (120, 0, None)
    elastic = found["elastic"]
    assert (elastic.required, elastic.short, elastic.runs_out_on) == (
        36_000,
        36_000,
        TODAY + timedelta(days=2),
    )


def test_stock_on_order_counts_from_its_expected_day(reference_loaded: Engine, fablab: str) -> None:
    import_samples(reference_loaded)
    chu = poitiers(reference_loaded)
    with unit_of_work(reference_loaded) as session:
        order = purchasing.create(
            session=session,
            supplier="00000002600013",
            item="petg",
            quantity="3",
            unit="kg",
            fablab="Fablab des Usines",
            actor="t",
        )
        purchasing.send(session=session, order_id=order.id or 0)
        purchasing.confirm(
            session=session, order_id=order.id or 0, expected_on=TODAY + timedelta(days=4)
        )
    lines = [
        Line("CMD-1", chu, "visor-frame", 10, TODAY + timedelta(days=2)),
        Line("CMD-2", chu, "visor-frame", 100, TODAY + timedelta(days=6)),
    ]
    petg = needs(reference_loaded, lines)["petg"]
    assert (petg.required, petg.on_hand, petg.on_order, petg.short) == (2684, 0, 3000, 0)
    assert petg.runs_out_on == TODAY + timedelta(days=2)  # the order arrives on day 4
    assert needs(reference_loaded, lines)["elastic"].note.startswith("not computed")


def test_planned_demand_is_counted_at_its_fablab(reference_loaded: Engine, fablab: str) -> None:
    from fabcoord import fablabs

    with unit_of_work(reference_loaded, read_only=True) as session:
        lyon = fablabs.get_fablab(session=session, name="Fabrique Lyon").id
    lines = [Line("CMD-1", poitiers(reference_loaded), "visor", 5, TODAY, fablab_id=lyon)]
    found = needs(reference_loaded, lines, frame_grams=20)
    assert (found["petg"].site, found["petg"].required) == ("fabrique-lyon", 100)


def test_open_demand_is_read_from_the_core(reference_loaded: Engine, fablab: str) -> None:
    from fabcoord import demand

    with unit_of_work(reference_loaded) as session:
        demand.publish(
            session=session,
            reference="CMD-7",
            hospital_id=poitiers(reference_loaded),
            lines=[demand.LineSpec(line=1, item_code="visor", quantity=10)],
            needed_by=date.today() + timedelta(days=3),
            state=demand.DemandState.OPEN,
            status="accepted",
        )
    with unit_of_work(reference_loaded, read_only=True) as session:
        found = {n.item: n for n in compute_needs(session=session, today=date.today())}
    assert found["pet-sheet-a4"].required == 10
    assert found["petg"].required == 244


def test_elastic_comes_from_the_visors_bill_of_materials_unless_given(
    reference_loaded: Engine, fablab: str
) -> None:
    from fabcoord.batches import quality
    from fabcoord.config import PROJECT_DATA_DIR

    bill = quality.load(PROJECT_DATA_DIR).components
    receive(reference_loaded, item="elastic", qty=3_000, to="fablab/fablab-des-usines")
    lines = [Line("CMD-1", poitiers(reference_loaded), "visor", 20, TODAY + timedelta(days=3))]
    elastic = needs(reference_loaded, lines, components=bill)["elastic"]
    assert (elastic.required, elastic.on_hand, elastic.short) == (6_000, 3_000, 3_000)
    assert elastic.runs_out_on == TODAY + timedelta(days=3)
    assert elastic.note.startswith("300 mm per visor, from the visor's bill of materials")
    given = needs(reference_loaded, lines, components=bill, elastic_mm=100)["elastic"]
    assert (given.required, given.short, given.note) == (
        2_000,
        0,
        "100 mm per visor, from --elastic-mm",
    )


def test_a_sent_purchase_order_is_not_stock_on_order_until_confirmed_with_a_date(
    reference_loaded: Engine, fablab: str
) -> None:
    """The same rule as the plan's (suppliers.purchasing.ON_ORDER_STATES): a request the
    supplier has not answered brings nothing on a known day."""
    import_samples(reference_loaded)
    chu = poitiers(reference_loaded)
    with unit_of_work(reference_loaded) as session:
        order = purchasing.create(
            session=session,
            supplier="00000002600013",
            item="petg",
            quantity="3",
            unit="kg",
            fablab="Fablab des Usines",
            actor="t",
        )
        purchasing.send(session=session, order_id=order.id or 0)
    lines = [Line("CMD-1", chu, "visor-frame", 100, TODAY + timedelta(days=6))]
    petg = needs(reference_loaded, lines)["petg"]
    assert (petg.on_order, petg.short) == (0, 2440)
    with unit_of_work(reference_loaded) as session:
        purchasing.confirm(
            session=session, order_id=order.id or 0, expected_on=TODAY + timedelta(days=4)
        )
    petg = needs(reference_loaded, lines)["petg"]
    assert (petg.on_order, petg.short) == (3000, 0)
