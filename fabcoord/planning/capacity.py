"""What the planner asks of the capabilities, through providers the composition root registers.

A capability that makes frames (the print farm) registers a :data:`CapacityProvider` giving, per
fablab, its printing rate and the filament a frame needs, and a :data:`CommittedProvider` giving the
frames already under way or made for each order line (those are never planned again).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
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


CapacityProvider = Callable[..., list[FablabCapacity]]
"""Called as ``provider(session=session, now=now)``."""

CommittedProvider = Callable[..., dict[tuple[str, int], int]]
"""Called as ``provider(session=session)``: frames started or made per (order reference, line)."""


class Providers:
    """The providers in use; the composition root fills them."""

    def __init__(self) -> None:
        self.capacity: list[CapacityProvider] = []
        self.committed: list[CommittedProvider] = []
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
    ) -> None:
        """Add providers; adding the same one twice keeps one."""
        if capacity is not None and capacity not in self.capacity:
            self.capacity.append(capacity)
        if committed is not None and committed not in self.committed:
            self.committed.append(committed)

    def clear(self) -> None:
        self.capacity.clear()
        self.committed.clear()
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


providers = Providers()
"""The process's providers: filled by the composition root, empty until then."""
