"""Units of work that keep what they loaded: a row read once is not read again."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event
from sqlmodel import select

from fabcoord.config import PROJECT_DATA_DIR
from fabcoord.db import unit_of_work
from fabcoord.records import Hospital
from fabcoord.reference import load_reference_data


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _first_hospital_id(engine: Engine, *, keep_loaded: bool) -> int:
    """Read a hospital, drop every reference to it, then get it by key: how many queries."""
    with unit_of_work(engine, keep_loaded=keep_loaded) as session:
        hospital_id = session.exec(select(Hospital.id)).first()
        assert hospital_id is not None
        name = session.exec(select(Hospital).where(Hospital.id == hospital_id)).one().name
        with statements(engine) as seen:
            again = session.get(Hospital, hospital_id)
        assert again is not None and again.name == name
        return len(seen)


def test_a_keeping_unit_of_work_gets_a_row_it_already_read_without_a_query(
    engine: Engine,
) -> None:
    with unit_of_work(engine) as session:
        load_reference_data(session=session, data_dir=PROJECT_DATA_DIR)
    assert _first_hospital_id(engine, keep_loaded=True) == 0
    assert _first_hospital_id(engine, keep_loaded=False) == 1  # weakly held: read again
