"""Planning: which fablab or maker makes which order line, by when, and what limits it.

The core owns it because it joins every capability: demand comes from :mod:`fabcoord.demand`,
printer capacity and materials from providers the composition root registers
(:mod:`fabcoord.planning.capacity`), makers from :mod:`fabcoord.makers`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlmodel import Session


@dataclass(frozen=True)
class HandoffRecommendation:
    """What the latest plan recommends handing to an industrial partner."""

    quantity: int
    needed_by: date
    references: tuple[str, ...]
    reason: str


def handoff_recommendation(*, session: Session) -> HandoffRecommendation | None:
    """The latest plan's hand-off recommendation (None: no plan yet, or none recommended).

    Read by the hand-off (``handoff create --from-plan``) through the core, never by import of
    a capability package.
    """
    from fabcoord.errors import NotFound
    from fabcoord.planning import plans

    try:
        view = plans.show(session=session)
    except NotFound:
        return None
    handoff = view.result.get("handoff")
    if not handoff or int(handoff.get("visors", 0)) <= 0:
        return None
    references = tuple(dict.fromkeys(key.split("/")[0] for key in handoff.get("orders", [])))
    return HandoffRecommendation(
        quantity=int(handoff["visors"]),
        needed_by=date.fromisoformat(str(handoff["by"])),
        references=references,
        reason="; ".join(handoff.get("why", [])),
    )
