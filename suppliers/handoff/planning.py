"""The hand-off's answer to the planner: partner manufacturers as sources of visors, the volume
already handed to them, and the draft hand-offs an accepted plan asks for.

Registered by the composition root (``cli.py``): :func:`provide` gives the planner
(:mod:`fabcoord.planning.capacity`) each partner's declared capacity and what hand-offs already
cover; :func:`subscribe` hears ``plan_accepted``.

- A partner is a source when it declared visors a day (``partners add|set --visors-per-day``); its
  city (``--city``) places it with the core's city table (the planner leaves a partner without one
  out, with a note). Its first visors come after its lead time; a partner that declared none
  (``--lead-time-days`` 0) is counted :data:`DEFAULT_LEAD_TIME_DAYS` days: an order placed in a
  partner's Odoo still has to be scheduled, made and packed before it leaves (not sourced: a
  cautious figure; declare the partner's own).
- Volume handed off already (every hand-off but a refused one and a plan's unsent draft; of a
  cancelled one, what it delivered) is committed to the order lines it serves and not planned
  again: the lines it recorded (a plan's allocation, or lines given by hand), each its units; one
  without recorded lines (made by hand) covers its orders in the order listed, and within an order
  its lines of the hand-off's item in line order, each up to the line's quantity.
- Volume handed to a partner and not delivered yet (draft made by hand, queued, sent: its
  quantity; partly delivered: what is left; not refused, cancelled or delivered ones) is its
  capacity already used: it takes the partner's first days from the end of its lead time on
  (:attr:`~fabcoord.planning.capacity.PartnerCapacity.booked`), so no plan offers it again.
- Accepting a plan records each partner allocation as **draft** hand-offs, one per order served,
  with the order lines and units the plan gave the partner, delivered to that order's hospital by
  the plan's expected delivery date. Nothing is sent: the
  coordinator checks them (``handoff list --state draft``) and places each with ``handoff send
  ID``, through the outbox, as for a hand-off made by hand. The partner's minimum order applies to
  its whole allocation (the planner gives a partner its minimum or nothing).
- A plan's drafts nobody sent are the plan's proposal, not a commitment (as queued print jobs
  are): the planner leaves them out of what is handed off and of the partners' booked capacity,
  and accepting a later plan **replaces** them: they are cancelled in the same transaction, each
  with its cause (``replaced by plan N``). So are a plan's hand-offs the partner's Odoo refused
  (their volume is planned again, so sending one later would book it twice): each gets its cause
  and a cancel through the outbox (the refusal may have come after the order was created), and
  can no longer be sent. Hand-offs sent, queued, confirmed or made by hand stay and count. The
  providers lock those proposals, and the plans' queued hand-offs the partner may still refuse
  (``FOR UPDATE``), while a plan is computed or accepted, so none is sent or refused between the
  plan's check of its inputs and their replacement (a refusal then waits, and the next plan
  replaces it); one sent or refused before is counted again, and the plan's check then refuses
  the plan as out of date.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy import not_
from sqlmodel import Session, col, select

from fabcoord import demand, events
from fabcoord.planning.capacity import PartnerCapacity
from suppliers.handoff import proposals
from suppliers.handoff.models import Handoff, HandoffLine, HandoffState, Partner

if TYPE_CHECKING:
    from fabcoord.planning.capacity import Providers

DEFAULT_LEAD_TIME_DAYS = 3
KEY_PREFIX = "partner/"
_BOOKING = (HandoffState.DRAFT, HandoffState.QUEUED, HandoffState.SENT, HandoffState.PARTIAL)


def partner_key(partner: Partner) -> str:
    return f"{KEY_PREFIX}{partner.id}"


def partner_capacity(*, session: Session) -> list[PartnerCapacity]:
    """Every partner that declared a capacity, as the planner counts it."""
    rows = session.exec(
        select(Partner).where(col(Partner.capacity_per_day) > 0).order_by(col(Partner.id))
    )
    used = booked(session=session)
    found = []
    for partner in rows:
        lead = partner.lead_time_days or DEFAULT_LEAD_TIME_DAYS
        notes = (
            ()
            if partner.lead_time_days
            else (f"no lead time declared: {DEFAULT_LEAD_TIME_DAYS} days counted",)
        )
        found.append(
            PartnerCapacity(
                key=partner_key(partner),
                name=partner.name,
                city=partner.city,
                region=partner.region,
                visors_per_day=partner.capacity_per_day,
                lead_time_days=lead,
                minimum_order=partner.minimum_order,
                booked=used.get(partner.id or 0, 0),
                notes=notes,
            )
        )
    return found


def handed_off(*, session: Session) -> dict[tuple[str, int], int]:
    """Units already handed to partners per (order reference, line): never planned again."""
    result: dict[tuple[str, int], int] = {}
    proposals.lock_unsettled(session=session)  # none sent or refused while this plan is decided
    rows = session.exec(
        select(Handoff)
        .where(col(Handoff.state) != HandoffState.REFUSED, not_(proposals.PLAN_PROPOSAL))
        .order_by(col(Handoff.id))
    )
    recorded: dict[int, list[HandoffLine]] = {}
    for share in session.exec(select(HandoffLine).order_by(col(HandoffLine.id))):
        recorded.setdefault(share.handoff_id, []).append(share)
    for handoff in rows:
        left = handoff.delivered if handoff.state is HandoffState.CANCELLED else handoff.quantity
        shares = recorded.get(handoff.id or 0)
        targets = (
            ((share.reference, share.line, share.quantity) for share in shares)
            if shares
            else (  # made by hand, no lines recorded: its orders' lines of its item, in order
                (line.reference, line.line, line.quantity)
                for reference in filter(None, handoff.orders.split(","))
                for line in demand.lines_of(session=session, reference=reference)
                if line.item_code == handoff.item_code
            )
        )
        for reference, number, units in targets:
            if left <= 0:
                break
            take = min(left, units)
            result[(reference, number)] = result.get((reference, number), 0) + take
            left -= take
    return result


def booked(*, session: Session) -> dict[int, int]:
    """Visors handed to each partner (by id) and not delivered yet: its capacity already used."""
    rows = session.exec(
        select(Handoff.partner_id, Handoff.quantity, Handoff.delivered).where(
            col(Handoff.state).in_(_BOOKING), not_(proposals.PLAN_PROPOSAL)
        )
    )
    result: dict[int, int] = {}
    for partner_id, quantity, delivered in rows:
        result[partner_id] = result.get(partner_id, 0) + max(0, quantity - delivered)
    return result


def on_plan_accepted(*, session: Session, event: events.Event) -> None:
    """Record the accepted plan's partner allocations as draft hand-offs (never sent here),
    replacing what earlier plans recorded and no partner holds."""
    from suppliers.handoff import service  # here: a plan (it only reads) needs none of it

    plan_id = event.payload["plan_id"]
    said: list[str] | None = event.payload.get("said")
    replaced = service.replace_plan_proposals(session=session, plan_id=plan_id)
    drafts = [h for h in replaced if h.state is HandoffState.CANCELLED]
    refused = [h for h in replaced if h.state is not HandoffState.CANCELLED]
    if drafts and said is not None:
        ids = ", ".join(str(h.id) for h in drafts)
        said.append(
            f"{len(drafts)} draft hand-off(s) of earlier plans, never sent, replaced "
            f"(cancelled): {ids}"
        )
    if refused and said is not None:
        ids = ", ".join(str(h.id) for h in refused)
        said.append(
            f"{len(refused)} hand-off(s) of earlier plans the partner refused, replaced (their "
            f"cancel goes through the outbox; they can no longer be sent): {ids}"
        )
    allocations: dict[str, Any] = event.payload.get("partners") or {}
    for key, allocation in sorted(allocations.items()):
        partner = _partner(session, key)
        if partner is None:
            continue
        per_order: dict[str, list[dict[str, Any]]] = {}
        for line in allocation["lines"]:
            per_order.setdefault(line["reference"], []).append(line)
        total = int(allocation["visors"])
        for reference, lines in sorted(per_order.items()):
            shares: dict[int, int] = {}
            for line in lines:
                shares[int(line["line"])] = shares.get(int(line["line"]), 0) + int(line["quantity"])
            quantity = sum(shares.values())
            by = max(date.fromisoformat(line["delivery"]) for line in lines)
            service.create_handoff(
                session=session,
                partner=partner.name,
                quantity=quantity,
                needed_by=by,
                destination=service.default_destination(session=session, references=[reference]),
                actor=event.actor,
                orders=[reference],
                force=True,  # the plan counted the lead time from the day it was computed
                note=f"plan {plan_id}: {quantity} of the {total} visors it gives {partner.name}",
                ordered_together=total,
                plan_id=plan_id,
                lines=[
                    service.LineShare(reference, number, units)
                    for number, units in sorted(shares.items())
                ],
            )


def _partner(session: Session, key: str) -> Partner | None:
    if not key.startswith(KEY_PREFIX) or not key.removeprefix(KEY_PREFIX).isdigit():
        return None
    return session.get(Partner, int(key.removeprefix(KEY_PREFIX)))


def provide(providers: Providers) -> None:
    """Offer the planner the partners' capacity and the volume already handed off."""
    providers.register(partners=partner_capacity, committed=handed_off)


def subscribe(subscribers: events.Subscribers) -> None:
    """Record an accepted plan's partner allocations as draft hand-offs."""
    subscribers.subscribe("plan_accepted", on_plan_accepted)
