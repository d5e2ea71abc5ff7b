"""The plan over real farm capacity: allocation, unmet demand and hand-off, explanations, accepting
(once, and only while its inputs hold), and the jobs it queues on the planned fablab's printers."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from fabcoord import demand, events
from fabcoord.config import PROJECT_DATA_DIR
from fabcoord.db import unit_of_work
from fabcoord.planning import plans
from fabcoord.planning.capacity import Providers
from fabcoord.planning.explain import explain
from fabcoord.planning.inputs import PlanSettings
from fabcoord.planning.models import Plan
from fabcoord.records import Fablab, Hospital
from print_farm import claims, handlers
from print_farm.models import JobState, PrintJob
from tests.print_farm import farm_factories as ff

TODAY = date(2026, 12, 1)
NOW = datetime(2026, 12, 1, 8, tzinfo=UTC)


@pytest.fixture
def heard() -> Iterator[list[events.Event]]:
    seen: list[events.Event] = []

    def listen(*, session: object, event: events.Event) -> None:
        seen.append(event)

    handlers.subscribe(events.subscribers)
    events.subscribers.subscribe("order_planned", listen)
    events.subscribers.subscribe("plan_accepted", listen)
    yield seen
    events.subscribers.clear()


@pytest.fixture
def providers() -> Providers:
    chosen = Providers()
    handlers.provide(chosen)
    return chosen


def farm_in_nantes(engine: Engine, printers: int = 2) -> tuple[ff.Farm, list[str]]:
    """Printers making 20 frames a day each (10 h, 2 frames per hour-long print, 30 g)."""
    farm = ff.make_fablab(engine)
    ff.stock_filament(engine, farm, lot="L1", grams=20_000)
    names = []
    for _ in range(printers):
        name = ff.add_printer(engine, farm, auto_clear=True)
        ff.load(engine, name, lot="L1", grams=1000)
        names.append(name)
    ff.add_design(engine, units=2, grams=30)
    return farm, names


def compute(engine: Engine, providers: Providers, **options: int) -> plans.PlanView:
    with unit_of_work(engine) as session:
        return plans.compute(
            session=session,
            settings=PlanSettings(**options),
            data_dir=PROJECT_DATA_DIR,
            providers=providers,
            actor="coordinator",
            today=TODAY,
            now=NOW,
        )


def accept(engine: Engine, providers: Providers, version: int | None = None) -> plans.PlanView:
    with unit_of_work(engine) as session:
        return plans.accept(
            session=session,
            settings=PlanSettings(),
            data_dir=PROJECT_DATA_DIR,
            providers=providers,
            actor="coordinator",
            version=version,
            now=NOW,
        )


def test_a_plan_allocates_within_capacity_and_recommends_a_hand_off_for_the_rest(
    engine: Engine, providers: Providers
) -> None:
    farm, _ = farm_in_nantes(engine)
    ff.open_order(
        engine, "CMD-2026-000001", quantity=100, needed_by=TODAY + timedelta(days=5), priority=2
    )
    ff.open_order(engine, "CMD-2026-000002", quantity=2000, hospital="hospices-civils-de-lyon")
    plan = compute(engine, providers)
    lines = {line["reference"]: line for line in plan.result["lines"]}
    first, big = lines["CMD-2026-000001"], lines["CMD-2026-000002"]
    assert (first["unmet"], [p["site"] for p in first["parts"]]) == (0, [f"fablab/{farm.slug}"])
    assert first["delivery"] == "2026-12-05"  # 100 frames at 40 a day: 3 days, then 1 day by road
    assert big["unmet"] == 2000 - (40 * 14 - 100)
    assert plan.result["fablab_backlog_days"] == {farm.slug: 14.0}
    handoff = plan.result["handoff"]
    assert handoff["visors"] >= big["unmet"] and "CMD-2026-000002/1" in handoff["orders"]
    assert plan.result["region_met_on"]["Pays de la Loire"] == "2026-12-05"
    assert plan.result["region_met_on"]["Auvergne-Rhône-Alpes"] is None
    text = " ".join(explain(plan, "CMD-2026-000002"))
    assert "cannot be made within the 14-day horizon" in text
    assert "hand" in text and "printer(s), 10 h a day" in text


def test_accepting_plans_the_orders_and_queues_jobs_on_that_fablabs_printers_only(
    engine: Engine, providers: Providers, heard: list[events.Event]
) -> None:
    farm, _ = farm_in_nantes(engine)
    other = ff.make_fablab(engine)
    ff.open_order(engine, "CMD-2026-000001", quantity=10, needed_by=TODAY + timedelta(days=5))
    plan = compute(engine, providers)
    accept(engine, providers)
    planned = [e for e in heard if e.kind == "order_planned"]
    assert [dict(e.payload) for e in planned] == [
        {
            "reference": "CMD-2026-000001",
            "expected_delivery": date(2026, 12, 3),
            "allocated": 10,
            "reason": f"plan {plan.version}",
        }
    ]
    with unit_of_work(engine, read_only=True) as session:
        lab = session.exec(select(Fablab).where(Fablab.slug == farm.slug)).one()
        jobs = list(session.exec(select(PrintJob)))
        assert {(j.fablab_id, j.order_ref, j.status) for j in jobs} == {
            (lab.id, "CMD-2026-000001", JobState.QUEUED)
        }
        assert len(jobs) == 5
        docs = demand.documents_serving(session=session, references=["CMD-2026-000001"])
        assert len(docs) == 5
    assert other.slug not in {e.payload.get("fablab") for e in heard}


def test_a_plan_is_accepted_once_and_not_after_its_orders_changed(
    engine: Engine, providers: Providers, heard: list[events.Event]
) -> None:
    farm_in_nantes(engine)
    ff.open_order(engine, "CMD-2026-000001", quantity=10)
    first = compute(engine, providers)
    accept(engine, providers)
    with pytest.raises(plans.PlanNotAcceptable, match=f"plan {first.version} was accepted already"):
        accept(engine, providers, first.version)
    compute(engine, providers)
    ff.open_order(engine, "CMD-2026-000001", quantity=16)
    with pytest.raises(
        plans.PlanNotAcceptable,
        match=r"out of date: order line CMD-2026-000001/1: quantity 10 → 16",
    ):
        accept(engine, providers)


def test_a_plan_stored_as_json_with_spaces_is_still_judged_on_its_inputs(
    engine: Engine, providers: Providers, heard: list[events.Event]
) -> None:
    """Plans stored before the compact JSON text (``json.dumps``' spaces) compare as values."""
    farm_in_nantes(engine)
    ff.open_order(engine, "CMD-2026-000001", quantity=10)
    first = compute(engine, providers)
    second = compute(engine, providers)
    with unit_of_work(engine) as session:
        for plan in session.exec(select(Plan)):
            assert json.loads(plan.inputs) == (first if plan.id == first.version else second).inputs
            assert plan.fingerprint == hashlib.sha256(plan.inputs.encode()).hexdigest()
            plan.inputs = json.dumps(json.loads(plan.inputs), sort_keys=True, ensure_ascii=False)
            plan.result = json.dumps(json.loads(plan.result), sort_keys=True, ensure_ascii=False)
            session.add(plan)
    assert accept(engine, providers, first.version).accepted_at is not None
    ff.open_order(engine, "CMD-2026-000001", quantity=16)
    with pytest.raises(
        plans.PlanNotAcceptable,
        match=r"out of date: order line CMD-2026-000001/1: quantity 10 → 16",
    ):
        accept(engine, providers, second.version)


def test_replanning_moves_queued_jobs_but_never_a_job_already_printing(
    engine: Engine, providers: Providers, heard: list[events.Event]
) -> None:
    _, printers = farm_in_nantes(engine, printers=1)
    ff.open_order(engine, "CMD-2026-000001", quantity=6)
    compute(engine, providers)
    accept(engine, providers)
    with unit_of_work(engine) as session:
        first = session.exec(select(PrintJob).order_by(PrintJob.id)).first()  # type: ignore[arg-type]
        assert first is not None and first.id is not None
        claims.acquire_leases(session=session, owner="d1", lease_s=30)
        printer_id = ff.printer(engine, printers[0]).id or 0
        assert claims.claim_job(session=session, job_id=first.id, printer_id=printer_id, owner="d1")
        assert claims.mark_start_sent(session=session, job_id=first.id, attempt=1, owner="d1")
        assert claims.mark_printing(session=session, job_id=first.id, attempt=1)
    second = compute(engine, providers)
    [line] = second.result["lines"]
    assert line["quantity"] == 4  # 2 frames are printing already
    assert second.result["jobs"][0]["frames"] == 4
    accept(engine, providers)
    with unit_of_work(engine, read_only=True) as session:
        rows = {(j.id, j.status) for j in session.exec(select(PrintJob))}
    assert (first.id, JobState.PRINTING) in rows
    assert sum(1 for _, status in rows if status is JobState.QUEUED) == 2
    assert sum(1 for _, status in rows if status is JobState.CANCELLED) == 2
    with unit_of_work(engine, read_only=True) as session:
        changes = plans.diff(session=session, version=second.version)
    assert changes  # compared with the first accepted plan


def test_bad_input_still_gives_a_plan_with_reasons(engine: Engine, providers: Providers) -> None:
    ff.open_order(engine, "CMD-2026-000001", quantity=50, needed_by=TODAY - timedelta(days=3))
    with unit_of_work(engine) as session:
        lab = ff.make_fablab(engine)
        row = session.exec(select(Fablab).where(Fablab.slug == lab.slug)).one()
        row.city = "Atlantis"
        session.add(row)
        nantes = session.exec(select(Hospital).where(Hospital.slug == "chu-de-nantes")).one()
        session.add(
            Hospital(slug="hopital-x", name="Hôpital X", city="Nowhere", region_id=nantes.region_id)
        )
    with unit_of_work(engine) as session:
        hospital = session.exec(select(Hospital).where(Hospital.slug == "hopital-x")).one()
        demand.publish(
            session=session,
            reference="CMD-2026-000009",
            hospital_id=hospital.id or 0,
            lines=[demand.LineSpec(1, "visor", 10)],
            needed_by=TODAY,
            state=demand.DemandState.OPEN,
            status="accepted",
        )
    plan = compute(engine, providers)
    assert any("Atlantis" in note and "cities.csv" in note for note in plan.result["notes"])
    assert "unknown city 'Nowhere'" in plan.result["excluded"]["CMD-2026-000009/1"]
    [line] = plan.result["lines"]
    assert line["unmet"] == 50
    assert "cannot be planned: unknown city 'Nowhere'" in " ".join(explain(plan, "CMD-2026-000009"))
    assert plan.result["handoff"]["visors"] == 50
