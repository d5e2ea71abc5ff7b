"""What the planner asks of the capabilities, through providers the composition root registers.

A capability that makes frames (the print farm) registers a :data:`CapacityProvider` giving, per
fablab, its printing rate and the filament a frame needs, and a :data:`CommittedProvider` giving the
frames already under way or made for each order line (those are never planned again). A
capability that buys material (suppliers' purchase orders) registers an :data:`OnOrderProvider`
giving the material confirmed and not yet received, with the day it is expected. A capability
that hands volume to partner manufacturers (suppliers' hand-off) registers a
:data:`PartnerProvider` giving each partner's declared visors a day, its city and its lead time;
the planner places the city with the core's city table.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlmodel import Session


@dataclass(frozen=True)
class FablabCapacity:
    """A fablab's printers as the planner sees them.

    Attributes:
        fablab: the fablab's slug.
        nominal_per_day: frames a day at full use of its working hours.
        utilisation: observed over the last 7 days (None: no print in that time, not measured).
        frames_per_day: what the plan counts (nominal × utilisation when measured).
        material / grams_per_frame: the filament a frame takes (of the design it would print).
        notes: how the figure was reached, for explanations.
    """

    fablab: str
    printers: int
    hours_per_day: float
    nominal_per_day: float
    utilisation: float | None
    frames_per_day: float
    material: str
    grams_per_frame: float
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Incoming:
    """Material ordered for a fablab and not received yet, expected on ``expected_on``.

    Attributes:
        fablab: the fablab's slug; item: the item code; quantity: in the item's base unit.
        source: what a person reads to find it (``purchase order 12``).
    """

    fablab: str
    item: str
    quantity: int
    expected_on: date
    source: str


@dataclass(frozen=True)
class PartnerCapacity:
    """A partner manufacturer as the planner sees it: whole visors, from its lead time on.

    Attributes:
        key: ``partner/<id>``, how the plan names it (and the hand-off finds it again).
        name: the partner's name; city, region: where it ships from (``city`` empty: not set).
        visors_per_day: its declared capacity; lead_time_days: days before its first delivery
            leaves (0 when it declared none: see the provider); minimum_order: the least it takes.
        booked: visors already handed to it and not delivered yet: they take its first days
            after its lead time, and only the rest of its capacity is offered to the plan.
        notes: how the figures were reached, for explanations.
    """

    key: str
    name: str
    city: str
    region: str
    visors_per_day: int
    lead_time_days: int
    minimum_order: int = 0
    booked: int = 0
    notes: tuple[str, ...] = ()


CapacityProvider = Callable[..., list[FablabCapacity]]
"""Called as ``provider(session=session, now=now)``."""

CommittedProvider = Callable[..., dict[tuple[str, int], int]]
"""Called as ``provider(session=session)``: frames started or made per (order reference, line)."""

OnOrderProvider = Callable[..., list[Incoming]]
"""Called as ``provider(session=session)``: material confirmed, not received, with its date."""

PartnerProvider = Callable[..., list[PartnerCapacity]]
"""Called as ``provider(session=session)``: partner manufacturers that declared a capacity."""


class Providers:
    """The providers in use; the composition root fills them."""

    def __init__(self) -> None:
        self.capacity: list[CapacityProvider] = []
        self.committed: list[CommittedProvider] = []
        self.on_order: list[OnOrderProvider] = []
        self.partners: list[PartnerProvider] = []
        self._deferred: list[Callable[[Providers], None]] = []
        self._deferred_lock = threading.Lock()

    def defer(self, setup: Callable[[Providers], None]) -> None:
        """Run ``setup(self)`` when the planner first asks, not now (keeps light commands light)."""
        if setup not in self._deferred:
            self._deferred.append(setup)

    def _ready(self) -> None:
        if self._deferred:
            with self._deferred_lock:  # web requests publish from several threads
                while self._deferred:
                    self._deferred.pop(0)(self)

    def register(
        self,
        *,
        capacity: CapacityProvider | None = None,
        committed: CommittedProvider | None = None,
        on_order: OnOrderProvider | None = None,
        partners: PartnerProvider | None = None,
    ) -> None:
        """Add providers; adding the same one twice keeps one."""
        if capacity is not None and capacity not in self.capacity:
            self.capacity.append(capacity)
        if committed is not None and committed not in self.committed:
            self.committed.append(committed)
        if on_order is not None and on_order not in self.on_order:
            self.on_order.append(on_order)
        if partners is not None and partners not in self.partners:
            self.partners.append(partners)

    def clear(self) -> None:
        self.capacity.clear()
        self.committed.clear()
        self.on_order.clear()
        self.partners.clear()
        self._deferred.clear()

    def fablab_capacity(self, *, session: Session, now: datetime) -> dict[str, FablabCapacity]:
        self._ready()
        result: dict[str, FablabCapacity] = {}
        for provider in self.capacity:
            for row in provider(session=session, now=now):
                result[row.fablab] = row
        return result

    def committed_frames(self, *, session: Session) -> dict[tuple[str, int], int]:
        self._ready()
        total: dict[tuple[str, int], int] = {}
        for provider in self.committed:
            for key, frames in provider(session=session).items():
                total[key] = total.get(key, 0) + frames
        return total

    def incoming(self, *, session: Session) -> list[Incoming]:
        """Material on order from every provider, earliest first."""
        self._ready()
        found = [row for provider in self.on_order for row in provider(session=session)]
        return sorted(found, key=lambda r: (r.expected_on, r.fablab, r.item, r.source))

    def partner_capacity(self, *, session: Session) -> list[PartnerCapacity]:
        """Partner manufacturers from every provider, by key."""
        self._ready()
        found = {row.key: row for provider in self.partners for row in provider(session=session)}
        return [found[key] for key in sorted(found)]


providers = Providers()
"""The process's providers: filled by the composition root, empty until then."""
