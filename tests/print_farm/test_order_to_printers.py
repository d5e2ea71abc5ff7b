"""From a hospital's order to real OctoPrint printers: the plan sends it to the nearest fablab,
accepting it queues jobs for that fablab's printers only, the printers print them, the order's
production starts, and the frames are counted for the order."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from fabcoord import demand, events, fablabs
from fabcoord.clock import utc_now
from fabcoord.config import PROJECT_DATA_DIR
from fabcoord.db import unit_of_work
from fabcoord.planning import plans
from fabcoord.planning.capacity import Providers
from fabcoord.planning.inputs import PlanSettings
from print_farm import handlers
from print_farm.models import JobState, PrintJob
from tests.print_farm import farm_factories as ff
from tests.print_farm import farm_runs as fr
from tests.print_farm.octoprint_servers import OctoPrintServer


@pytest.fixture
def servers(octoprint_servers: list[OctoPrintServer]) -> list[OctoPrintServer]:
    fr.reset_servers(octoprint_servers)
    return octoprint_servers


def test_an_accepted_plan_is_printed_by_the_planned_fablab_and_counted_for_the_order(
    engine: Engine, servers: list[OctoPrintServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[events.Event] = []

    def production_started(*, session: object, event: events.Event) -> None:
        started.append(event)

    handlers.subscribe(events.subscribers)
    events.subscribers.subscribe("production_started", production_started)
    providers = Providers()
    handlers.provide(providers)
    try:
        reference = ff.open_order(
            engine, quantity=8, needed_by=(utc_now() + timedelta(days=4)).date(), priority=2
        )
        nantes = ff.make_fablab(engine)
        with unit_of_work(engine) as session:
            lyon = fablabs.add_fablab(
                session=session, name="Lyon lab", city="Lyon", region="Auvergne-Rhône-Alpes"
            )
        in_lyon = ff.Farm(lyon.name, lyon.slug, lyon.stock_location)
        names = []
        for index, server in enumerate(servers[:3]):
            farm = nantes if index < 2 else in_lyon
            key_env = f"FABCOORD_TEST_OCTO_KEY_{index}"
            monkeypatch.setenv(key_env, server.api_key)
            name = ff.add_printer(
                engine, farm, name=f"octo-{index}", url=server.url, key_env=key_env, auto_clear=True
            )
            ff.stock_filament(engine, farm, lot=f"L{index}", grams=300)
            ff.load(engine, name, lot=f"L{index}", grams=300)
            names.append(name)
        fr.dwell_design(engine, ms=500, units=2, grams=10)

        with unit_of_work(engine) as session:
            plan = plans.compute(
                session=session,
                settings=PlanSettings(),
                data_dir=PROJECT_DATA_DIR,
                providers=providers,
                actor="coordinator",
            )
        assert [j["fablab"] for j in plan.result["jobs"]] == [nantes.slug]
        with unit_of_work(engine) as session:
            plans.accept(
                session=session,
                settings=PlanSettings(),
                data_dir=PROJECT_DATA_DIR,
                providers=providers,
                actor="coordinator",
            )
        fr.drive(
            engine,
            fr.all_jobs(engine, JobState.DONE),
            what="the plan's 4 jobs done",
            config=fr.fast_config(stagger_s=0.2),
        )
        with unit_of_work(engine, read_only=True) as session:
            jobs = list(session.exec(select(PrintJob)))
            docs = demand.documents_serving(session=session, references=[reference])
        assert len(jobs) == 4 and {j.order_ref for j in jobs} == {reference}
        used = {ff.job(engine, j.id or 0).printer_id for j in jobs}
        assert used <= {ff.printer(engine, names[0]).id, ff.printer(engine, names[1]).id}
        assert ff.qty(engine, "visor-frame", nantes.stock) == 8
        assert ff.qty(engine, "visor-frame", lyon.stock_location) == 0
        assert sorted(d.doc_id for d in docs) == sorted(str(j.id) for j in jobs)
        produced = {doc for doc, _ in fr.postings(engine, "print_output")}
        assert produced == {str(j.id) for j in jobs}
        assert [(e.kind, e.payload["reference"]) for e in started] == [
            ("production_started", reference)
        ]
    finally:
        events.subscribers.clear()
