"""The print farm's contribution to the weekly report: printers, hours printing, utilisation and
capacity per fablab."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, update
from sqlmodel import select

from fabcoord.db import unit_of_work
from fabcoord.reports.providers import ProviderRegistry
from fabcoord.reports.weekly import ReportRequest, build
from print_farm import report as farm_report
from print_farm.models import Design, FarmPrinter, JobState, PrintJob
from print_farm.registry import get_printer
from tests.print_farm.farm_factories import add_design, add_printer, make_fablab

NOW = datetime(2026, 12, 7, 5, 0, tzinfo=UTC)


def utc(*when: int) -> datetime:
    return datetime(*when, tzinfo=UTC)  # type: ignore[misc]


def test_printers_hours_utilisation_and_capacity_per_fablab(engine: Engine) -> None:
    """Two printers since 1 Nov. In 2026-W47 (16 Nov 00:00 Paris = 15 Nov 23:00 UTC, 168 h): p1
    printed 10:00–14:00 UTC (4 h); p2 from 21:00 UTC on the 15th to 01:00 UTC on the 16th (2 h in
    the week); a job of W48 does not count. 6 h of 2 × 168 h: 1.79 %. Capacity: the design gives 2
    frames an hour, so 2 printers × 168 h × 2 = 672 frames a week from W44 on."""
    farm = make_fablab(engine, "Fablab Ferme")
    add_design(engine, name="visor-x2", units=2)
    p1, p2 = add_printer(engine, farm, name="p1"), add_printer(engine, farm, name="p2")
    with unit_of_work(engine) as session:
        session.execute(update(FarmPrinter).values(created_at=utc(2026, 11, 1)))
        ids = [get_printer(session=session, name=n).id for n in (p1, p2)]
        design_id = session.exec(select(Design.id)).one()
        for printer_id, start, end in (
            (ids[0], utc(2026, 11, 16, 10), utc(2026, 11, 16, 14)),
            (ids[1], utc(2026, 11, 15, 21), utc(2026, 11, 16, 1)),
            (ids[0], utc(2026, 11, 24, 10), utc(2026, 11, 24, 12)),
        ):
            session.add(
                PrintJob(
                    design_id=design_id,
                    status=JobState.DONE,
                    printer_id=printer_id,
                    created_at=start,
                    started_at=start,
                    finished_at=end,
                )
            )
    registry = ProviderRegistry()
    registry.register("print_farm", farm_report.figures)
    with unit_of_work(engine, read_only=True) as session:
        result = build(
            session=session,
            request=ReportRequest(week="2026-W47"),
            database_url="sqlite://",
            now=NOW,
            registry=registry,
        )
    row = result.figures.fablabs.set_index("fablab").loc["Fablab Ferme"]
    assert (row["printers"], row["printing_hours"]) == (2, 6.0)
    assert row["utilisation"] == pytest.approx(6 / 336, abs=1e-4)
    key = result.figures.key.set_index("figure")["value"]
    assert key["utilisation"] == pytest.approx(6 / 336, abs=1e-4)
    # W40–W43 end before the printers were added (1 Nov, in W44)
    assert list(result.figures.trend["capacity"]) == [0.0] * 4 + [672.0] * 4
