"""A fablab's printing hours a day, which the print farm's capacity counts (10 h by default)."""

from __future__ import annotations

from sqlmodel import Session

from fabcoord import fablabs
from fabcoord.errors import InvalidInput
from fabcoord.planning.models import FablabHours


def set_hours(*, session: Session, fablab: str, hours_per_day: float) -> FablabHours:
    """Raises InvalidInput (not 0 to 24 h), UnknownFablab."""
    if not 0 <= hours_per_day <= 24:
        raise InvalidInput(f"--per-day must be 0 to 24 hours, got {hours_per_day:g}")
    lab = fablabs.get_fablab(session=session, name=fablab)
    assert lab.id is not None
    row = session.get(FablabHours, lab.id) or FablabHours(fablab_id=lab.id, hours_per_day=0)
    row.hours_per_day = hours_per_day
    session.add(row)
    session.flush()
    return row
