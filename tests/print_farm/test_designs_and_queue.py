"""Designs (G-code stored once, validated) and the queue (frames become prints, dispatch order)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func
from sqlmodel import select

import cli
from fabcoord.db import unit_of_work
from fabcoord.errors import AlreadyExists, InvalidInput
from print_farm import designs, queue
from print_farm.errors import InvalidGcode, JobNotCancellable, UnknownDesign, UnknownJob
from print_farm.models import GcodeBlob, JobState
from tests.print_farm import farm_factories as ff


def test_the_same_gcode_is_stored_once(engine: Engine) -> None:
    ff.add_design(engine, name="a")
    ff.add_design(engine, name="b")
    with unit_of_work(engine, read_only=True) as session:
        assert session.exec(select(func.count()).select_from(GcodeBlob)).one() == 1
        listed = designs.list_designs(session=session)
    assert {d.file_name for d in listed} == {designs.file_name_for(listed[0].sha256)}


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"   \n\n",
        b"; only a comment\n",
        b"hello world\n",
        b"G1 X1\n\x00\x01binary",
        b"\xff\xfe",
    ],
)
def test_content_that_is_not_gcode_is_refused(content: bytes) -> None:
    with pytest.raises(InvalidGcode):
        designs.validate_gcode(content)


def test_real_gcode_shapes_are_accepted() -> None:
    designs.validate_gcode(b"N1 G28*18\nT0\nM104 S200 ; heat\n@pause\ng1 x1\nG92.1\n")
    designs.validate_gcode(b"G1X10Y10E0.5\nM104S200\n")  # compact G-code, no spaces


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"units": 0}, InvalidInput),
        ({"units": 10**12}, InvalidInput),
        ({"grams": 10**9}, InvalidInput),
        ({"grams": 0}, InvalidInput),
        ({"material": "visor"}, InvalidInput),
    ],
)
def test_bad_designs_are_refused_and_nothing_is_stored(
    engine: Engine, options: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error):
        ff.add_design(engine, name="bad", **options)  # type: ignore[arg-type]
    with unit_of_work(engine, read_only=True) as session:
        assert designs.list_designs(session=session) == []
        assert session.exec(select(func.count()).select_from(GcodeBlob)).one() == 0


def test_a_design_name_is_unique(engine: Engine) -> None:
    ff.add_design(engine, name="visor")
    with pytest.raises(AlreadyExists):
        ff.add_design(engine, name="visor")


def test_cli_refuses_an_empty_gcode_file_in_one_line(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.gcode"
    empty.write_bytes(b"")
    args = [
        "--db",
        database_url,
        "designs",
        "add",
        "v",
        "--gcode",
        str(empty),
        "--units-per-print",
        "2",
        "--material",
        "petg",
        "--grams",
        "30",
        "--minutes",
        "60",
    ]
    assert cli.run(args) == 1
    assert capsys.readouterr().err.strip() == "error: the G-code file is empty"


def test_count_is_frames_rounded_up_to_whole_prints(engine: Engine) -> None:
    design = ff.add_design(engine, units=4)
    order = ff.open_order(engine)
    with unit_of_work(engine) as session:
        report = queue.enqueue(session=session, design=design, count=10, order_ref=order)
    assert len(report.job_ids) == 3
    assert report.frames_planned == 12
    with unit_of_work(engine, read_only=True) as session:
        rows = queue.list_jobs(session=session)
    assert {(j.order_ref, j.frames, j.status) for j in rows} == {(order, 4, "queued")}


@pytest.mark.parametrize("count", [0, -3])
def test_a_count_below_one_is_refused(engine: Engine, count: int) -> None:
    design = ff.add_design(engine)
    with pytest.raises(InvalidInput), unit_of_work(engine) as session:
        queue.enqueue(session=session, design=design, count=count)
    assert ff.jobs_by_status(engine) == {}


def test_cli_refuses_a_negative_count(
    database_url: str, engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    design = ff.add_design(engine)
    assert cli.run(["--db", database_url, "farm", "enqueue", design, "--count", "-3"]) == 1
    assert "--count must be a number of frames" in capsys.readouterr().err
    assert ff.jobs_by_status(engine) == {}


def test_queue_order_is_priority_then_needed_by_then_age(engine: Engine) -> None:
    design = ff.add_design(engine, units=1)
    late = datetime(2020, 4, 20, tzinfo=UTC)
    soon = datetime(2020, 4, 2, tzinfo=UTC)
    a = ff.enqueue(engine, design, 1)
    b = ff.enqueue(engine, design, 1, needed_by=late)
    c = ff.enqueue(engine, design, 1, needed_by=soon)
    d = ff.enqueue(engine, design, 1, priority=5)
    with unit_of_work(engine, read_only=True) as session:
        order = [j.id for j in queue.list_jobs(session=session)]
    assert order == d + c + b + a


def test_unknown_design_and_job_are_clear_errors(engine: Engine) -> None:
    with pytest.raises(UnknownDesign), unit_of_work(engine) as session:
        queue.enqueue(session=session, design="nope", count=1)
    with pytest.raises(UnknownJob), unit_of_work(engine) as session:
        queue.cancel_job(session=session, job_id=999)


def test_cancelling_a_queued_job_and_then_again(engine: Engine) -> None:
    design = ff.add_design(engine)
    [job_id] = ff.enqueue(engine, design, 2)
    with unit_of_work(engine) as session:
        queue.cancel_job(session=session, job_id=job_id)
    assert ff.job(engine, job_id).status is JobState.CANCELLED
    with pytest.raises(JobNotCancellable), unit_of_work(engine) as session:
        queue.cancel_job(session=session, job_id=job_id)
