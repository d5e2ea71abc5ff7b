"""Material over the horizon: what is in stock now, and what is on order from the day it is
expected (:class:`~fabcoord.planning.capacity.Incoming`).

Printing before a delivery can use only what is there, so a site's frames are bounded by
``min over deliveries d of (material before d ÷ grams a frame + rate × (horizon − d))`` as well as
by all the material that arrives within the horizon.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from fabcoord.planning.capacity import Incoming


@dataclass(frozen=True)
class Arrival:
    """``quantity`` of an item arriving ``day`` days from today (0: today or overdue)."""

    day: int
    quantity: int
    source: str
    expected_on: date


Arrivals = dict[tuple[str, str], list[Arrival]]
"""Per (fablab slug, item code): what arrives within the horizon, earliest first."""


def arrivals(incoming: Sequence[Incoming], *, today: date, horizon_days: int) -> Arrivals:
    """The material on order that arrives within the horizon (an overdue one counts from today)."""
    result: Arrivals = {}
    for row in incoming:
        day = max(0, (row.expected_on - today).days)
        if row.quantity > 0 and day <= horizon_days:
            result.setdefault((row.fablab, row.item), []).append(
                Arrival(day, row.quantity, row.source, row.expected_on)
            )
    for rows in result.values():
        rows.sort(key=lambda a: (a.day, a.source))
    return result


def total(on_hand: int, coming: Sequence[Arrival]) -> int:
    """Stock now plus everything that arrives within the horizon."""
    return on_hand + sum(a.quantity for a in coming)


def frames_from_material(
    grams: int,
    coming: Sequence[Arrival],
    *,
    grams_per_frame: float,
    rate: float,
    horizon_days: int,
) -> int:
    """The most frames the material allows within the horizon, printing at ``rate`` a day."""
    if grams_per_frame <= 0:
        return 0
    best = total(grams, coming) / grams_per_frame
    have = grams
    for arrival in coming:
        best = min(best, have / grams_per_frame + rate * (horizon_days - arrival.day))
        have += arrival.quantity
    return math.floor(best)


def runs_out_day(
    grams: int,
    coming: Sequence[Arrival],
    *,
    grams_per_frame: float,
    rate: float,
    horizon_days: int,
) -> float | None:
    """The day printing at ``rate`` stops for want of material (None: it never does)."""
    if rate <= 0 or grams_per_frame <= 0:
        return None
    frames, now = grams / grams_per_frame, 0.0
    for arrival in coming:
        if frames < rate * (arrival.day - now):
            return now + frames / rate
        frames -= rate * (arrival.day - now)
        now = float(arrival.day)
        frames += arrival.quantity / grams_per_frame
    if frames < rate * (horizon_days - now):
        return now + frames / rate
    return None


def describe(coming: Sequence[Arrival], unit: str) -> str:
    """``5000 g on order (purchase order 3, expected 2026-04-09)``, several joined by "and"."""
    return " and ".join(
        f"{a.quantity} {unit} on order ({a.source}, expected {a.expected_on.isoformat()})"
        for a in coming
    )
