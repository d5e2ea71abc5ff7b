from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from tests.fabcoord.reports.dataset import Ledger, post_dst_week, post_weeks_46_to_48, setup_records

NOW = datetime(2026, 12, 7, 5, 0, tzinfo=UTC)


@pytest.fixture
def ledger(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Ledger:
    return Ledger(engine, monkeypatch)


@pytest.fixture
def known(engine: Engine, ledger: Ledger) -> dict[str, int]:
    """The known data set: records, weeks 46 to 48 of 2026 and the DST week 2026-W13."""
    hospitals = setup_records(engine)
    post_weeks_46_to_48(ledger)
    post_dst_week(ledger)
    ledger.monkeypatch.undo()
    return hospitals
