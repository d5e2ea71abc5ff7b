"""Drafts accepted plans recorded and nobody sent: what the planner leaves out and the next
accepted plan replaces (:mod:`suppliers.handoff.service` and the planner's providers,
:mod:`suppliers.handoff.planning`, both read them; a plan imports this, not the service)."""

from __future__ import annotations

from sqlalchemy import and_
from sqlmodel import Session, col, select

from suppliers.handoff.models import Handoff, HandoffState

PLAN_DRAFT = and_(col(Handoff.state) == HandoffState.DRAFT, col(Handoff.plan_id).is_not(None))
"""A draft an accepted plan recorded and nobody sent: the next accepted plan replaces it."""


def plan_drafts(*, session: Session, lock: bool = False) -> list[Handoff]:
    """The drafts accepted plans recorded and nobody sent yet: the next accepted plan replaces
    them. ``lock``: held (``FOR UPDATE``) to the end of the transaction, so none of them is sent
    while a plan that leaves them out is computed or accepted."""
    query = select(Handoff).where(PLAN_DRAFT).order_by(col(Handoff.id))
    if lock:
        query = query.with_for_update()
    return list(session.exec(query))
