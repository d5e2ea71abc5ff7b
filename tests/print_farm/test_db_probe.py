"""The dispatcher's change probe: a new mark after another connection commits, the same mark
when nothing was committed, and marks of two probe connections never taken for one another."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from print_farm.db_probe import ChangeProbe


def test_a_mark_changes_only_when_another_connection_commits(engine: Engine) -> None:
    probe = ChangeProbe(engine)
    try:
        first = probe.mark()
        if engine.dialect.name != "sqlite":
            assert first is None  # no cheap mark: every look reads
            return
        assert first is not None and probe.mark() == first
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE probe_test (x INTEGER)"))
        assert probe.mark() != first
    finally:
        probe.close()


def test_a_mark_read_on_a_new_connection_never_equals_the_last_one(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's marks only: PostgreSQL has none")
    probe = ChangeProbe(engine)
    try:
        before = probe.mark()
        probe.close(invalidate=True)  # as after a failed look: the next one reconnects
        after = probe.mark()
        assert before is not None and after is not None and after != before
    finally:
        probe.close()
