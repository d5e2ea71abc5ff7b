"""A pass writes the prints it saw finish in one lock order: by their fablab's stock location (the
ledger locks balances in (item, location, lot) order), so two dispatchers, or a dispatcher and a
transfer between fablabs, never take two fablabs' frame stocks in opposite orders."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from fabcoord.db import unit_of_work
from print_farm import claims, dispatch_db, planning, starting
from print_farm.models import FarmPrinter, JobState
from print_farm.outcomes import Record, in_lock_order
from print_farm.tracking import Verdict
from tests.print_farm import farm_factories as ff


def _record(printer_id: int, verdict: Verdict) -> Record:
    job = dispatch_db.ActiveJob(
        id=printer_id,
        attempt=1,
        printer_id=printer_id,
        status=JobState.PRINTING,
        file_name="part.gcode",
        start_sent_at=None,
        claimed_at=None,
        cancel_requested=False,
    )
    return Record(printer_id=printer_id, job=job, verdict=verdict, why="", progress=None)


def _printer_id(engine: Engine, name: str) -> int:
    with unit_of_work(engine, read_only=True) as session:
        printer = session.exec(select(FarmPrinter).where(FarmPrinter.name == name)).one()
        return printer.id or 0


def test_finished_prints_are_written_by_fablab_stock_location_then_printer(engine: Engine) -> None:
    first, second = ff.make_fablab(engine), ff.make_fablab(engine)  # first's stock: lower id
    in_second = _printer_id(engine, ff.add_printer(engine, second))  # the lower printer id
    in_first = _printer_id(engine, ff.add_printer(engine, first))
    also_first = _printer_id(engine, ff.add_printer(engine, first))
    records = [
        _record(in_second, Verdict.DONE),
        _record(also_first, Verdict.DONE),
        _record(in_first, Verdict.DONE),
    ]
    with unit_of_work(engine, read_only=True) as session:
        ordered = in_lock_order(session, records)
    assert [r.printer_id for r in ordered] == [in_first, also_first, in_second]


def test_verdicts_that_post_no_frames_keep_printer_order(engine: Engine) -> None:
    farm = ff.make_fablab(engine)
    ids = [_printer_id(engine, ff.add_printer(engine, farm)) for _ in range(3)]
    records = [
        _record(ids[2], Verdict.FAILED),
        _record(ids[0], Verdict.NOT_STARTED),
        _record(ids[1], Verdict.DONE),
    ]
    with unit_of_work(engine, read_only=True) as session:
        ordered = in_lock_order(session, records)
    assert [r.printer_id for r in ordered] == ids


def test_claims_lock_their_printers_in_id_order_before_claiming(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, object]] = []
    monkeypatch.setattr(
        dispatch_db,
        "lock_printers",
        lambda *, session, printer_ids: calls.append(("lock", sorted(printer_ids))),
    )
    monkeypatch.setattr(
        claims, "claim_for_start", lambda **kw: calls.append(("claim", kw["printer_id"]))
    )
    plan = [
        planning.Assignment(job_id=1, printer_id=7),
        planning.Assignment(job_id=2, printer_id=3),
    ]
    with unit_of_work(engine) as session:
        starting._claim(session, {9: "a notice"}, plan, "d1")
    assert calls == [("lock", [3, 7, 9]), ("claim", 7), ("claim", 3)]
    calls.clear()
    with unit_of_work(engine) as session:  # a pass's write that locked them with its own
        starting._claim(session, {9: "a notice"}, plan, "d1", locked=True)
    assert calls == [("claim", 7), ("claim", 3)]
