"""The allocation problem as plain data, and its answer: no database, no solver library.

Units are items: ``visor-frame`` (a printed headband) and ``visor`` (a frame, a PET sheet and an
elastic, assembled at a fablab). A *site* prints frames (a fablab's printers, or a maker at home);
an *assembly* is a fablab where frames become visors, bounded by its sheets and elastic, or a
partner manufacturer that makes whole visors itself (``kind`` ``partner``: no frames fed, a rate
from its start day, and a cost per unit on top of distance and lateness, so volunteers come first).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import NamedTuple

from fabcoord.geo import Point

FRAME = "visor-frame"
VISOR = "visor"
PLANNED_ITEMS = (FRAME, VISOR)
FABLAB = "fablab"
PARTNER = "partner"


@dataclass(frozen=True)
class Site:
    """Something that makes frames, with what it can make within the horizon.

    Attributes:
        key: ``fablab/<slug>`` for a fablab's printers, ``maker/<id>`` for a maker.
        fablab: the slug of the fablab whose stock receives the frames (and assembles visors).
        frames_per_day: effective rate (capacity × utilisation, or declared × reliability).
        frames_limit: the most frames it can make in the horizon (rate, material and stock).
        on_hand: finished frames already in stock (part of ``frames_limit``, take no time).
        printers: whether its work becomes print jobs (a fablab with OctoPrint printers).
        start_day: days before it can make its first unit (stock on hand takes none).
        unit_cost: added to the cost of every unit it serves (0: distance and lateness only).
    """

    key: str
    name: str
    fablab: str
    point: Point
    region: str
    frames_per_day: float
    frames_limit: int
    on_hand: int = 0
    printers: bool = False
    notes: tuple[str, ...] = ()
    binding: tuple[str, ...] = ()
    start_day: int = 0
    unit_cost: int = 0


@dataclass(frozen=True)
class Assembly:
    """A source of visors: a fablab that assembles them (at most ``visors_limit``: sheets,
    elastic, visors on hand), or a partner manufacturer (``kind`` ``partner``) making them.

    Attributes:
        fablab: the fablab's slug; for a partner, its key (``partner/<id>``).
        makes: visors it makes itself, without frames fed to it (a partner: its rate per day
            from ``start_day`` to the horizon's end); part of ``visors_limit``.
        rate: visors a day it makes itself (frames fed are counted at their sites' rate).
        start_day: days before its first visor is made (a partner's lead time).
        unit_cost: added to the cost of every visor it serves.
        minimum: the least it takes when used at all (a partner's minimum order).
    """

    fablab: str
    name: str
    point: Point
    region: str
    visors_limit: int
    on_hand: int = 0
    binding: tuple[str, ...] = ()
    kind: str = FABLAB
    makes: int = 0
    rate: float = 0.0
    start_day: int = 0
    unit_cost: int = 0
    minimum: int = 0
    notes: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """How flows name it: ``assembly/<slug>`` for a fablab, its own key for a partner."""
        return self.fablab if self.kind == PARTNER else f"assembly/{self.fablab}"


@dataclass(frozen=True)
class Need:
    """The open quantity of one order line."""

    reference: str
    line: int
    item: str
    quantity: int
    needed_by: date
    priority: int
    hospital: str
    point: Point
    region: str


@dataclass(frozen=True)
class Weights:
    """How the cost is counted, per unit: ``distance`` per km, ``lateness`` per priority-day late.
    A unit left unmet costs its priority × (more than the dearest possible choice: half the
    Earth's circumference plus the longest lateness counted): the plan leaves nothing unmet that
    it could make, and when it must choose, leaves the less urgent unmet.
    ``nearest``: each order is linked to that many nearest sources (0: all).
    ``partner``: what a visor made by a partner manufacturer costs on top, as that many km (or
    ``partner / lateness`` priority-days late): fablabs and makers are used first, as in 2020,
    and a partner takes the volume they would deliver more than 3 priority-days late (or not
    at all) at the default weights."""

    distance: int = 1
    lateness: int = 100
    nearest: int = 20
    partner: int = 300


@dataclass(frozen=True)
class Problem:
    today: date
    horizon_days: int
    sites: tuple[Site, ...]
    assemblies: tuple[Assembly, ...]
    needs: tuple[Need, ...]
    weights: Weights = field(default_factory=Weights)


class Flow(NamedTuple):
    """``quantity`` of a need served from ``source`` (a site key, or ``assembly/<slug>``).
    A named tuple: ten thousand of them are made per plan, in a third of a frozen
    dataclass's time."""

    need: int
    source: str
    quantity: int


@dataclass(frozen=True)
class Solution:
    """Flows per need and source, what is unmet per need, the total cost and the solver used."""

    flows: tuple[Flow, ...]
    unmet: tuple[int, ...]
    cost: int
    solver: str
    unmet_cost: int = 0  # the part of ``cost`` that is unmet penalty
    # frames each site sends into each assembly: (site key, fablab slug) -> frames
    feeds: dict[tuple[str, str], int] = field(default_factory=dict)
