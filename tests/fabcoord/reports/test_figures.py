"""Weekly figures against values computed by hand on the known data set (see dataset.py)."""

from __future__ import annotations

import math
from datetime import date

import pytest
from sqlalchemy import Engine

from fabcoord.db import unit_of_work
from fabcoord.errors import InvalidInput, UnknownFablab
from fabcoord.reports.providers import ProviderRegistry
from fabcoord.reports.weekly import ReportRequest, WeeklyReport, build
from tests.fabcoord.reports.conftest import NOW

NO_PROVIDERS = ProviderRegistry()


def report(engine: Engine, **request: str) -> WeeklyReport:
    with unit_of_work(engine, read_only=True) as session:
        return build(
            session=session,
            request=ReportRequest(**request),
            database_url="postgresql+psycopg://fab:secret@db/fab",
            now=NOW,
            registry=NO_PROVIDERS,
        )


def key(result: WeeklyReport) -> dict[str, tuple[float, float]]:
    return {row.figure: (row.value, row.previous) for row in result.figures.key.itertuples()}


def test_key_figures_of_a_week_match_the_hand_count(engine: Engine, known: dict[str, int]) -> None:
    """W47: A 2 prints + B 2 prints (Tue, Sun 23:30) = 16 frames (the reversed print and B's
    Monday 00:30 of W48 do not count); W46: 8. Assembled 8, shipped 6, delivered 6. Demand 20 + 5
    (the cancelled 10 left out), delivered 6: backlog 19, fill rate 6/25. 1 failure in 5 prints;
    W46: 0 in 2. Scrap 30 g."""
    figures = key(report(engine, week="2026-W47"))
    assert figures["printed"] == (16, 8)
    assert figures["assembled"] == (8, 0)
    assert figures["shipped"] == (6, 0)
    assert figures["delivered"] == (6, 0)
    assert figures["backlog"][0] == 19
    assert figures["fill_rate"][0] == pytest.approx(0.24)
    assert figures["failure_rate"] == (pytest.approx(0.2), 0.0)
    assert figures["scrap_g"] == (30, 0)
    assert figures["released"] == (8, 5)  # batches that passed their inspection


def test_released_batches_are_those_that_passed_their_inspection_in_the_week(
    engine: Engine, known: dict[str, int]
) -> None:
    """W47: LOT-2026-0001 only (LOT-2026-0003 failed that week and passed in W48)."""
    batches = report(engine, week="2026-W47").figures.batches
    assert list(batches["batch"]) == ["LOT-2026-0001"]
    row = batches.iloc[0]
    assert (row["fablab"], row["quantity"], row["state"]) == ("Fablab A", 8, "released")
    assert key(report(engine, week="2026-W48"))["released"] == (4, 8)
    assert key(report(engine, week="2026-W47", fablab="Fablab B"))["released"] == (0, 5)


def test_daily_production_is_cut_at_paris_midnights(engine: Engine, known: dict[str, int]) -> None:
    daily = report(engine, week="2026-W47").figures.daily
    rows = {(r.day, r.fablab): r.frames for r in daily.itertuples()}
    assert rows == {
        (date(2026, 11, 16), "Fablab A"): 4,
        (date(2026, 11, 17), "Fablab A"): 4,
        (date(2026, 11, 17), "Fablab B"): 4,
        (date(2026, 11, 22), "Fablab B"): 4,
    }


def test_per_hospital_and_per_fablab_tables(engine: Engine, known: dict[str, int]) -> None:
    figures = report(engine, week="2026-W47").figures
    hospitals = {r.hospital: r for r in figures.hospitals.itertuples()}
    poitiers, rennes = hospitals["CHU de Poitiers"], hospitals["CHU de Rennes"]
    assert (poitiers.ordered, poitiers.delivered_week, poitiers.delivered, poitiers.open) == (20, 6, 6, 14)  # fmt: skip
    assert poitiers.fill_rate == pytest.approx(0.3)
    assert (rennes.ordered, rennes.delivered, rennes.open) == (5, 0, 5)
    assert list(figures.hospitals["hospital"]) == ["CHU de Poitiers", "CHU de Rennes"]
    labs = {r.fablab: r for r in figures.fablabs.itertuples()}
    a, b = labs["Fablab A"], labs["Fablab B"]
    assert (a.printed, a.assembled, a.shipped, a.prints, a.failures) == (8, 8, 6, 2, 1)
    assert a.failure_rate == pytest.approx(1 / 3, abs=1e-4)
    assert (b.printed, b.prints, b.failures, b.failure_rate) == (8, 2, 0, 0.0)


def test_material_stock_at_week_end_and_days_of_cover(
    engine: Engine, known: dict[str, int]
) -> None:
    """PETG: A 1000 − 4×62 (March) + 10 000 − 2×62 (W46) − 2×62 − 30 (W47) = 10 474; B 5 000 −
    2×62 = 4 876 (its W48 print comes after the week's end): 15 350 g. Used in W47: 278 g, 39.7 g a
    day: 386.5 days of cover."""
    materials = report(engine, week="2026-W47").figures.materials
    petg = materials.set_index("item").loc["petg"]
    assert (petg["stock"], petg["consumed"]) == (15_350, 278)
    assert petg["per_day"] == pytest.approx(39.7)
    assert petg["days_cover"] == pytest.approx(386.5)


def test_the_trend_counts_the_eight_weeks_up_to_the_report_week(
    engine: Engine, known: dict[str, int]
) -> None:
    trend = report(engine, week="2026-W47").figures.trend
    assert list(trend["week"]) == [f"2026-W{n}" for n in range(40, 48)]
    assert list(trend["printed"]) == [0, 0, 0, 0, 0, 0, 8, 16]
    assert list(trend["delivered_cumulative"]) == [0, 0, 0, 0, 0, 0, 0, 6]
    assert trend["capacity"].isna().all()  # no print-farm provider


def test_a_week_with_a_daylight_saving_change(engine: Engine, known: dict[str, int]) -> None:
    """2026-W13 is 167 hours long; the print on Monday 00:10 Paris (Sunday 23:10 UTC) belongs to
    it, both Sunday prints fall on Sunday 29, and Monday 30 00:30 Paris is week 14."""
    result = report(engine, week="2026-W13")
    assert result.figures.scope.week.hours == 167
    rows = {(r.day, r.frames) for r in result.figures.daily.itertuples()}
    assert rows == {(date(2026, 3, 23), 4), (date(2026, 3, 29), 8)}
    assert key(result)["printed"][0] == 12
    assert key(report(engine, week="2026-W14"))["printed"][0] == 4


def test_a_week_without_activity_reports_zeros_and_no_data(
    engine: Engine, known: dict[str, int]
) -> None:
    result = report(engine, week="2026-W40")
    figures = key(result)
    assert figures["printed"] == (0, 0) and figures["delivered"] == (0, 0)
    assert result.figures.daily.empty
    assert math.isnan(figures["failure_rate"][0])
    assert result.database == "postgresql+psycopg://fab:***@db/fab"


def test_an_empty_database_gives_an_honest_no_activity_report(engine: Engine) -> None:
    result = report(engine, week="2026-W47")
    assert not result.figures.active
    assert result.figures.hospitals.empty and result.figures.materials.empty


def test_fablab_and_region_narrow_production(engine: Engine, known: dict[str, int]) -> None:
    only_b = report(engine, week="2026-W47", fablab="Fablab B").figures
    assert key_of(only_b, "printed") == 8
    assert key_of(only_b, "failure_rate") == 0.0
    assert list(only_b.fablabs["fablab"]) == ["Fablab B"]
    assert only_b.materials.set_index("item").loc["petg", "stock"] == 4_876
    bretagne = report(engine, week="2026-W47", region="bretagne").figures
    assert list(bretagne.hospitals["hospital"]) == ["CHU de Rennes"]
    assert key_of(bretagne, "delivered") == 0


def key_of(figures: object, name: str) -> float:
    frame = figures.key  # type: ignore[attr-defined]
    return float(frame.set_index("figure").loc[name, "value"])


@pytest.mark.parametrize(
    ("request_", "error", "message"),
    [
        ({"week": "2026-47"}, InvalidInput, "not an ISO week"),
        ({"week": "2026-W54"}, InvalidInput, "has no week 54"),
        ({"week": "2027-W02"}, InvalidInput, "has not started yet"),
        ({"fablab": "Nowhere"}, UnknownFablab, "unknown fablab"),
        ({"region": "Atlantis"}, InvalidInput, "unknown region"),
        ({"fablab": "Fablab A", "region": "Bretagne"}, InvalidInput, "not in the region"),
    ],
)
def test_bad_requests_are_refused_with_a_clear_message(
    engine: Engine, known: dict[str, int], request_: dict[str, str], error: type, message: str
) -> None:
    with pytest.raises(error, match=message):
        report(engine, **request_)


def test_a_provider_named_by_its_path_is_imported_when_a_report_is_made(
    engine: Engine, known: dict[str, int]
) -> None:
    registry = ProviderRegistry()
    registry.register("farm", "print_farm.report:figures")
    with unit_of_work(engine, read_only=True) as session:
        result = build(
            session=session,
            request=ReportRequest(week="2026-W47"),
            database_url="sqlite://",
            now=NOW,
            registry=registry,
        )
    assert list(result.figures.fablabs["fablab"]) == ["Fablab A", "Fablab B"]
