"""plan_dispatch: properties over random farms, and the operator notices."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from print_farm.planning import (
    Assignment,
    PrinterSlot,
    QueuedJob,
    available,
    dispatch_key,
    explain_idle,
    fits,
    plan_dispatch,
)

MATERIALS = st.sampled_from(["petg", "pla"])
BASE = datetime(2020, 4, 1, tzinfo=UTC)

jobs_strategy = st.lists(
    st.builds(
        QueuedJob,
        id=st.integers(1, 10_000),
        priority=st.integers(-2, 2),
        needed_by=st.one_of(st.none(), st.integers(0, 10).map(lambda d: BASE + timedelta(days=d))),
        material=MATERIALS,
        grams=st.integers(1, 100),
        fablab_id=st.one_of(st.none(), st.integers(1, 2)),
    ),
    max_size=25,
    unique_by=lambda j: j.id,
)
printers_strategy = st.lists(
    st.builds(
        PrinterSlot,
        id=st.integers(1, 10_000),
        name=st.text("abc", min_size=1, max_size=3),
        fablab_id=st.integers(1, 2),
        material=st.sampled_from(["petg", "pla", ""]),
        lot=st.just("L"),
        grams_left=st.integers(0, 150),
        enabled=st.booleans(),
        reachable=st.booleans(),
        idle=st.booleans(),
        bed_clear=st.booleans(),
        has_job=st.booleans(),
    ),
    max_size=12,
    unique_by=lambda p: p.id,
)


@settings(max_examples=300, deadline=None)
@given(jobs_strategy, printers_strategy)
def test_every_assignment_is_valid_and_unique(
    jobs: list[QueuedJob], printers: list[PrinterSlot]
) -> None:
    plan = plan_dispatch(jobs, printers)
    by_job = {j.id: j for j in jobs}
    by_printer = {p.id: p for p in printers}
    assert len({a.job_id for a in plan}) == len(plan)
    assert len({a.printer_id for a in plan}) == len(plan)
    for assignment in plan:
        printer, job = by_printer[assignment.printer_id], by_job[assignment.job_id]
        assert available(printer) and fits(job, printer)
        assert printer.grams_left >= job.grams  # never a spool too short


@settings(max_examples=300, deadline=None)
@given(jobs_strategy, printers_strategy)
def test_no_waiting_job_could_have_taken_a_free_printer(
    jobs: list[QueuedJob], printers: list[PrinterSlot]
) -> None:
    plan = plan_dispatch(jobs, printers)
    used = {a.printer_id for a in plan}
    assigned = {a.job_id for a in plan}
    free = [p for p in printers if available(p) and p.id not in used]
    for job in jobs:
        if job.id not in assigned:
            assert not any(fits(job, p) for p in free)


@settings(max_examples=300, deadline=None)
@given(jobs_strategy, printers_strategy)
def test_a_waiting_job_never_outranks_a_job_that_took_a_printer_it_could_use(
    jobs: list[QueuedJob], printers: list[PrinterSlot]
) -> None:
    plan = plan_dispatch(jobs, printers)
    by_job = {j.id: j for j in jobs}
    by_printer = {p.id: p for p in printers}
    assigned = {a.job_id for a in plan}
    for waiting in (j for j in jobs if j.id not in assigned):
        for assignment in plan:
            if fits(waiting, by_printer[assignment.printer_id]):
                assert dispatch_key(by_job[assignment.job_id]) < dispatch_key(waiting)


def test_spools_nearly_used_up_are_used_first() -> None:
    job = QueuedJob(1, 0, None, "petg", 30)
    fresh = PrinterSlot(1, "a", 1, "petg", "L1", 1000)
    nearly = PrinterSlot(2, "b", 1, "petg", "L2", 40)
    assert plan_dispatch([job], [fresh, nearly]) == [Assignment(1, 2)]


def test_the_operator_is_told_to_change_a_spool_too_short() -> None:
    job = QueuedJob(1, 0, None, "petg", 30)
    short = PrinterSlot(1, "a", 1, "petg", "L1", 20)
    assert plan_dispatch([job], [short]) == []
    notice = explain_idle([job], [short], [])[1]
    assert notice.startswith("change the spool: 20 g of petg lot L1 left")


def test_the_operator_is_told_about_a_material_mismatch_and_a_bed_to_clear() -> None:
    job = QueuedJob(1, 0, None, "petg", 30)
    pla = PrinterSlot(1, "a", 1, "pla", "L1", 500)
    dirty = PrinterSlot(2, "b", 1, "petg", "L2", 500, bed_clear=False)
    assert plan_dispatch([job], [pla, dirty]) == []
    notices = explain_idle([job], [pla, dirty], [])
    assert "needs petg" in notices[1]
    assert notices[2] == "clear the bed, then run 'fabcoord farm clear b'"


def test_a_job_for_one_fablab_waits_for_its_printers() -> None:
    job = QueuedJob(1, 0, None, "petg", 30, fablab_id=2)
    other = PrinterSlot(1, "a", 1, "petg", "L1", 500)
    assert plan_dispatch([job], [other]) == []
