"""Hand-offs accepted plans recorded that no partner holds: what the planner leaves out and the
next accepted plan replaces (:mod:`suppliers.handoff.service` and the planner's providers,
:mod:`suppliers.handoff.planning`, both read them; a plan imports this, not the service)."""

from __future__ import annotations

from sqlalchemy import and_
from sqlmodel import Session, col, select

from suppliers.handoff.models import Handoff, HandoffState

PLAN_PROPOSAL = and_(
    col(Handoff.plan_id).is_not(None),
    col(Handoff.state).in_((HandoffState.DRAFT, HandoffState.REFUSED)),
)
"""A hand-off an accepted plan recorded that no partner holds: a draft nobody sent, or one the
partner's Odoo refused. The plan's proposal, not a commitment: the next accepted plan replaces it."""


def plan_proposals(*, session: Session, lock: bool = False) -> list[Handoff]:
    """The hand-offs accepted plans recorded that no partner holds (:data:`PLAN_PROPOSAL`): the
    next accepted plan replaces them. ``lock``: held (``FOR UPDATE``) to the end of the
    transaction, so none of them is sent while a plan that leaves them out is computed or
    accepted."""
    query = select(Handoff).where(PLAN_PROPOSAL).order_by(col(Handoff.id))
    if lock:
        query = query.with_for_update()
    return list(session.exec(query))
