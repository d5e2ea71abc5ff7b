"""What the hand-offs add to the weekly report (see ``fabcoord.reports.providers``): per partner
and item, what was ordered from partners and what they delivered in the week.

- ordered: hand-offs created in the week that were placed (not a draft, cancelled or refused, as
  they stand now);
- received: what the partners' deliveries of the week (``handoff`` postings, reversals counted
  against them) brought to the scope: a fablab's stock, or a hospital when the partner ships
  there (the region's hospitals with ``--region``; none with only ``--fablab``).
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import String, cast, select
from sqlmodel import Session, col

from fabcoord.ledger.models import Item, Location, LocationKind, MoveReason
from fabcoord.reports.arrivals import Tally, arrivals, document_ids
from fabcoord.reports.providers import Rows, Scope
from suppliers.handoff.models import Handoff, HandoffState, Partner

DOC_TYPE = "handoff"  # suppliers.handoff.service.DOC_TYPE, without importing the service
_NOT_PLACED = (HandoffState.DRAFT, HandoffState.CANCELLED, HandoffState.REFUSED)


def figures(*, session: Session, scope: Scope) -> Mapping[str, Rows]:
    tally = Tally("partner")
    placed = (
        select(
            col(Partner.name),
            col(Handoff.item_code),
            cast(col(Item.unit), String),
            col(Handoff.quantity),
            col(Handoff.destination),
        )
        .join(Partner, col(Partner.id) == Handoff.partner_id)
        .join(Item, col(Item.code) == Handoff.item_code)
        .where(
            col(Handoff.created_at) >= scope.start,
            col(Handoff.created_at) < scope.end,
            col(Handoff.state).not_in(_NOT_PLACED),
        )
    )
    hospitals = scope.hospital_ids
    if scope.fablab_ids is not None and hospitals is None:
        hospitals = frozenset()  # only a fablab chosen: hand-offs to hospitals are not its own
    came = arrivals(
        session=session,
        cause=MoveReason.HANDOFF,
        start=scope.start,
        end=scope.end,
        stock_kinds=(LocationKind.STOCK,),
        fablab_ids=scope.fablab_ids,
        hospital_ids=hospitals,
    )
    handoff_ids = document_ids(came, DOC_TYPE)
    partner_of = dict(
        session.execute(
            select(col(Handoff.id), col(Partner.name))
            .join(Partner, col(Partner.id) == Handoff.partner_id)
            .where(col(Handoff.id).in_(handoff_ids))
        ).all()
    )
    if scope.fablab_ids is None and scope.hospital_ids is None:
        for name, item, unit, quantity, _ in session.execute(placed).all():
            tally.row(name, item, unit)["ordered"] += int(quantity)
    else:
        wanted = _destinations(session, scope.fablab_ids, hospitals)
        for name, item, unit, quantity, destination in session.execute(placed).all():
            if destination in wanted:
                tally.row(name, item, unit)["ordered"] += int(quantity)
    for arrival in came:
        if arrival.doc_type == DOC_TYPE and arrival.doc_id.isdigit():
            name = partner_of.get(int(arrival.doc_id), f"hand-off {arrival.doc_id}")
            tally.row(name, arrival.item, arrival.unit)["received"] += arrival.qty
    found = tally.found()
    return {"suppliers": sorted(found, key=lambda r: (r["name"], r["item"]))}


def _destinations(
    session: Session, fablab_ids: frozenset[int] | None, hospital_ids: frozenset[int] | None
) -> set[str]:
    """The location codes a scoped hand-off may be delivered to."""
    codes: set[str] = set()
    query = select(
        col(Location.code), col(Location.kind), col(Location.fablab_id), col(Location.hospital_id)
    )
    for code, kind, fablab_id, hospital_id in session.execute(query).all():
        if kind == LocationKind.HOSPITAL:
            if hospital_ids is None or hospital_id in hospital_ids:
                codes.add(code)
        elif fablab_id is not None and (fablab_ids is None or fablab_id in fablab_ids):
            codes.add(code)
    return codes
