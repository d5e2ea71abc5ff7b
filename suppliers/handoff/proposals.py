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


_UNSETTLED = (HandoffState.DRAFT, HandoffState.QUEUED, HandoffState.REFUSED)


def lock_unsettled(*, session: Session) -> None:
    """Hold (``FOR UPDATE``, to the end of the transaction) the hand-offs accepted plans recorded
    whose standing may still change: drafts (they may be sent), queued ones (the partner may
    refuse them) and refused ones (they may be sent again). While a plan is computed or accepted
    none of them changes: a refusal committed between the plan's check of its inputs and the
    replacement of its proposals would be replaced by a plan that counted it as handed off; it
    waits, and the next plan sees it."""
    query = (
        select(Handoff.id)
        .where(col(Handoff.plan_id).is_not(None), col(Handoff.state).in_(_UNSETTLED))
        .order_by(col(Handoff.id))
        .with_for_update()
    )
    session.exec(query).all()
