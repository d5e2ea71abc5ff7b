"""Material over the horizon: stock now, and what is on order from the day it is expected."""

from __future__ import annotations

from datetime import date, timedelta

from fabcoord.planning import materials
from fabcoord.planning.capacity import Incoming

TODAY = date(2026, 4, 6)


def arrive(days: int, grams: int, item: str = "petg", fablab: str = "lab") -> Incoming:
    return Incoming(fablab, item, grams, TODAY + timedelta(days=days), f"purchase order {days}")


def test_an_overdue_order_counts_from_today_and_one_after_the_horizon_not_at_all() -> None:
    found = materials.arrivals(
        [arrive(20, 500), arrive(-3, 100), arrive(4, 200)], today=TODAY, horizon_days=14
    )
    assert [(a.day, a.quantity) for a in found[("lab", "petg")]] == [(0, 100), (4, 200)]


def test_printing_before_a_delivery_uses_only_what_is_there() -> None:
    coming = materials.arrivals([arrive(10, 3000)], today=TODAY, horizon_days=14)[("lab", "petg")]
    rated = {"grams_per_frame": 15.0, "rate": 20.0, "horizon_days": 14}
    # 600 g = 40 frames (two days), idle until day 10, then four days at 20 a day
    assert materials.frames_from_material(600, coming, **rated) == 120
    assert materials.runs_out_day(600, coming, **rated) == 2.0
    # without the order: the stock alone
    assert materials.frames_from_material(600, [], **rated) == 40
    # plenty in stock: never runs out
    assert materials.runs_out_day(10_000, coming, **rated) is None
