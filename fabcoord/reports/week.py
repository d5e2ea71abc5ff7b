"""ISO weeks in Europe/Paris: parsing ``2026-W47``, the default week, and the UTC bounds of a period.

A week runs from Monday 00:00 to the next Monday 00:00, Paris time; a week with a daylight-saving
change is 167 or 169 hours long, and its days are cut at Paris midnights.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from fabcoord.errors import InvalidInput

PARIS = ZoneInfo("Europe/Paris")
_WEEK = re.compile(r"^(\d{4})-?W(\d{1,2})$", re.IGNORECASE)


@dataclass(frozen=True)
class Week:
    """One ISO week (year and number); days and bounds are Paris days."""

    year: int
    number: int

    @property
    def label(self) -> str:
        return f"{self.year}-W{self.number:02d}"

    @property
    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.number, 1)

    @property
    def days(self) -> list[date]:
        return [self.monday + timedelta(days=i) for i in range(7)]

    @property
    def start(self) -> datetime:
        """Monday 00:00 Paris, in UTC."""
        return paris_midnight(self.monday)

    @property
    def end(self) -> datetime:
        """The next Monday 00:00 Paris, in UTC (exclusive)."""
        return paris_midnight(self.monday + timedelta(days=7))

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600

    def shifted(self, weeks: int) -> Week:
        return week_of(self.monday + timedelta(weeks=weeks))

    def day_bounds(self) -> list[datetime]:
        """The eight Paris midnights (in UTC) that cut the week into its seven days."""
        return [paris_midnight(self.monday + timedelta(days=i)) for i in range(8)]


def paris_midnight(day: date) -> datetime:
    """00:00 of ``day`` in Paris, as a UTC datetime."""
    return datetime(day.year, day.month, day.day, tzinfo=PARIS).astimezone(UTC)


def week_of(day: date) -> Week:
    year, number, _ = day.isocalendar()
    return Week(year, number)


def last_complete_week(now: datetime) -> Week:
    """The last ISO week that has ended, Paris time."""
    return week_of(now.astimezone(PARIS).date() - timedelta(days=7))


def parse_week(text: str | None, *, now: datetime) -> Week:
    """``2026-W47`` (or None for the last complete week) as a :class:`Week`.

    Raises:
        InvalidInput: malformed, not a week of that year, or a week that has not started yet.
    """
    if text is None or not text.strip():
        return last_complete_week(now)
    match = _WEEK.match(text.strip())
    if match is None:
        raise InvalidInput(f"week {text!r} is not an ISO week like 2026-W47")
    year, number = int(match.group(1)), int(match.group(2))
    try:
        week = Week(year, number)
        start = week.start
    except (ValueError, OverflowError):
        raise InvalidInput(f"{year} has no week {number}") from None
    if start > now:
        raise InvalidInput(
            f"week {week.label} has not started yet (the last complete week is "
            f"{last_complete_week(now).label})"
        )
    return week
