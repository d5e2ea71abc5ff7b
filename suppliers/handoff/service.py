"""Hand-off records: create, queue for sending or cancelling, apply what a sync read, record by hand.

Delivered units are posted once each: per partner delivery (an Odoo picking, or a receipt recorded
by hand) :class:`HandoffReceipt` holds what was already posted, and a posting carries the idempotency
key ``handoff:<id>:<source>:<total>``, so a sync repeated, or run twice at once, posts nothing more.
A posting moves the units from the virtual ``partner`` location to the hand-off's destination (a
fablab's stock, or ``hospital/<slug>`` when the partner ships to the hospital), reason ``handoff``,
document ``handoff``/``<id>``, and the document is linked to the orders it serves.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlmodel import Session, col, select

from fabcoord import demand, events
from fabcoord.clock import utc_now
from fabcoord.errors import InvalidInput, UnknownLocation
from fabcoord.ledger import catalogue
from fabcoord.ledger.models import Item, Location, LocationKind, MoveReason
from fabcoord.ledger.posting import Leg, PostingRequest, post
from fabcoord.records import Hospital
from fabcoord.reference import hospital_location_code
from suppliers.handoff.errors import (
    BelowMinimum,
    HandoffStateError,
    NotSent,
    TooSoon,
    UnknownHandoff,
)
from suppliers.handoff.models import (
    CommandState,
    Handoff,
    HandoffCommand,
    HandoffLine,
    HandoffReceipt,
    HandoffState,
    Partner,
)
from suppliers.handoff.partners import get_partner
from suppliers.handoff.proposals import plan_proposals
from suppliers.handoff.remote import Delivery, RemoteOrder

DOC_TYPE = "handoff"
PLANNER = "fabcoord.planning"
PLANNER_FUNCTION = "handoff_recommendation"
_OPEN = (HandoffState.SENT, HandoffState.PARTIAL)


@dataclass(frozen=True)
class Recommendation:
    """The plan's hand-off recommendation, as ``fabcoord.planning.handoff_recommendation`` gives it."""

    quantity: int
    needed_by: date
    references: tuple[str, ...]
    reason: str = ""


@dataclass(frozen=True)
class LineShare:
    """Units of a hand-off that are for one order line."""

    reference: str
    line: int
    quantity: int


@dataclass(frozen=True)
class Created:
    handoff: Handoff
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class SyncResult:
    handoff_id: int
    state: HandoffState
    remote_state: str
    delivered: int
    posted_now: int


def plan_recommendation(*, session: Session) -> Recommendation:
    """The plan's recommended hand-off, read through the core.

    The planner (``fabcoord.planning``) exposes ``handoff_recommendation(*, session)`` returning an
    object with ``quantity``, ``needed_by``, ``references`` and ``reason``, or None.

    Raises:
        InvalidInput: no planner in this build, or the plan recommends no hand-off.
    """
    try:
        planner = importlib.import_module(PLANNER)
        function = getattr(planner, PLANNER_FUNCTION)
    except (ImportError, AttributeError):
        raise InvalidInput(
            f"--from-plan needs the planner ({PLANNER}.{PLANNER_FUNCTION}), which this "
            "fabcoord does not have: give --qty, --needed-by and --orders"
        ) from None
    found: Any = function(session=session)
    if found is None:
        raise InvalidInput(
            "the current plan recommends no hand-off (or there is no plan yet: 'fabcoord plan'); "
            "give --qty, --needed-by and --orders instead"
        )
    return Recommendation(
        quantity=int(found.quantity),
        needed_by=found.needed_by,
        references=tuple(str(r) for r in found.references),
        reason=str(getattr(found, "reason", "")),
    )


def create_handoff(
    *,
    session: Session,
    partner: str,
    quantity: int,
    needed_by: date,
    destination: str,
    actor: str,
    orders: Sequence[str] = (),
    item_code: str = "visor",
    force: bool = False,
    today: date | None = None,
    note: str = "",
    ordered_together: int | None = None,
    plan_id: int | None = None,
    lines: Sequence[LineShare] = (),
) -> Created:
    """Record a hand-off (not sent yet).

    Args:
        ordered_together: the whole quantity ordered from the partner at once when this
            hand-off is one of several (a plan's allocation, one hand-off per order served): the
            partner's minimum order applies to it.
        plan_id: the accepted plan it comes from (its draft is replaced by a later plan's).
        lines: the order lines it serves and the units for each (they add up to ``quantity``;
            their orders are served, ``orders`` or not). None: it serves its orders' lines of
            its item, counted in line order.

    Raises:
        UnknownPartner, BelowMinimum, TooSoon (unless ``force``: then a warning), InvalidInput
        (quantity, destination, lines), UnknownItem, UnknownDemand, DemandClosed.
    """
    found = get_partner(session=session, name=partner)
    if isinstance(quantity, bool) or quantity <= 0 or quantity > 10_000_000:
        raise InvalidInput(f"--qty must be a whole number from 1 to 10,000,000, got {quantity}")
    if max(quantity, ordered_together or 0) < found.minimum_order:
        raise BelowMinimum(
            f"partner {found.name} takes orders of at least {found.minimum_order} units, "
            f"{max(quantity, ordered_together or 0)} asked"
        )
    warnings: list[str] = []
    earliest = (today or utc_now().date()) + timedelta(days=found.lead_time_days)
    if needed_by < earliest:
        message = (
            f"partner {found.name} needs {found.lead_time_days} days: the earliest delivery is "
            f"{earliest.isoformat()}, {needed_by.isoformat()} asked"
        )
        if not force:
            raise TooSoon(message + " (--force to hand off anyway)")
        warnings.append(message)
    item = catalogue.get_item(session=session, code=item_code)
    place = _destination(session, destination)
    references = _clean_references([*orders, *(share.reference for share in lines)])
    shares = _check_lines(session, lines, item_code=item.code, quantity=quantity)
    unserved = sorted(set(_clean_references(orders)) - {share.reference for share in shares})
    if shares and unserved:
        raise InvalidInput(
            f"order {unserved[0]} is given with --orders but none of --lines serves it: "
            "give its line and units in --lines"
        )
    for reference in references:
        line = _line_for(demand.lines_of(session=session, reference=reference), item.code)
        if line is None:
            raise demand.UnknownDemand(f"order {reference} has no line for {item.code}")
        demand.require_open(session=session, reference=reference, line=line)
    now = utc_now()
    handoff = Handoff(
        partner_id=found.id or 0,
        item_code=item.code,
        quantity=quantity,
        needed_by=needed_by,
        destination=place.code,
        orders=",".join(references),
        state=HandoffState.DRAFT,
        note=note[:500],
        plan_id=plan_id,
        created_by=actor,
        created_at=now,
        updated_at=now,
    )
    session.add(handoff)
    session.flush()
    for share in shares:
        session.add(
            HandoffLine(
                handoff_id=handoff.id or 0,
                reference=share.reference,
                line=share.line,
                quantity=share.quantity,
            )
        )
    session.flush()
    _link(session, handoff, require_open=True)
    return Created(handoff, tuple(warnings))


def _check_lines(
    session: Session, lines: Sequence[LineShare], *, item_code: str, quantity: int
) -> list[LineShare]:
    """The lines given, checked (before anything is written), in order and line order.

    Raises:
        InvalidInput, UnknownDemand, DemandClosed.
    """
    if not lines:
        return []
    seen: dict[tuple[str, int], LineShare] = {}
    for share in lines:
        reference = share.reference.strip()
        key = (reference, share.line)
        name = f"{reference}/{share.line}"
        if key in seen:
            raise InvalidInput(f"order line {name} is given twice")
        if isinstance(share.quantity, bool) or not 0 < share.quantity <= 10_000_000:
            raise InvalidInput(
                f"order line {name}: the units must be a whole number from 1 to 10,000,000, "
                f"got {share.quantity}"
            )
        row = demand.require_open(session=session, reference=reference, line=share.line)
        if row.item_code != item_code:
            raise InvalidInput(
                f"order line {name} is for {row.item_code}, not {item_code} (the hand-off's item)"
            )
        if share.quantity > row.quantity:
            raise InvalidInput(f"order line {name} asks for {row.quantity}, not {share.quantity}")
        seen[key] = LineShare(reference, share.line, share.quantity)
    total = sum(share.quantity for share in seen.values())
    if total != quantity:
        raise InvalidInput(
            f"the order lines' units add up to {total}, the hand-off is for {quantity}"
        )
    return list(seen.values())


def lines_of(*, session: Session, handoff_id: int) -> list[HandoffLine]:
    """The order lines a hand-off serves with their units (none: not recorded, made by hand)."""
    return list(
        session.exec(
            select(HandoffLine)
            .where(HandoffLine.handoff_id == handoff_id)
            .order_by(col(HandoffLine.id))
        )
    )


def default_destination(*, session: Session, references: Sequence[str]) -> str:
    """Where a partner delivers by default: the hospital of the first order served.

    Raises:
        InvalidInput: no order is served (then the destination must be given).
    """
    if not references:
        raise InvalidInput(
            "--to is needed when the hand-off serves no order (fablab/<slug> or hospital/<slug>)"
        )
    line = demand.lines_of(session=session, reference=references[0])[0]
    hospital = session.get(Hospital, line.hospital_id)
    assert hospital is not None
    return hospital_location_code(hospital.slug)


def _clean_references(orders: Sequence[str]) -> list[str]:
    seen: list[str] = []
    for reference in orders:
        reference = reference.strip()
        if reference and reference not in seen:
            seen.append(reference)
    if len(",".join(seen)) > 2000:
        raise InvalidInput("too many order references for one hand-off")
    return seen


def _line_for(lines: Sequence[demand.DemandLine], item_code: str) -> int | None:
    for line in lines:
        if line.item_code == item_code:
            return line.line
    return None


def _destination(session: Session, code: str) -> Location:
    code = code.strip()
    place = session.exec(select(Location).where(Location.code == code)).first()
    if place is None:
        raise UnknownLocation(f"unknown location {code!r} (a fablab/<slug> or hospital/<slug>)")
    if place.kind not in (LocationKind.STOCK, LocationKind.HOSPITAL):
        raise InvalidInput(
            f"a partner delivers to a fablab's stock or a hospital, not to {code} ({place.kind})"
        )
    return place


def _link(session: Session, handoff: Handoff, *, require_open: bool) -> None:
    """Link the hand-off to the order lines it serves: its recorded lines with their units, or
    (none recorded) each order's first line of its item."""
    recorded = lines_of(session=session, handoff_id=handoff.id or 0)
    for share in recorded:
        demand.link(
            session=session,
            doc_type=DOC_TYPE,
            doc_id=str(handoff.id),
            reference=share.reference,
            line=share.line,
            quantity=share.quantity,
            require_open_demand=require_open,
        )
    if recorded:
        return
    for reference in filter(None, handoff.orders.split(",")):
        lines = demand.lines_of(session=session, reference=reference)
        demand.link(
            session=session,
            doc_type=DOC_TYPE,
            doc_id=str(handoff.id),
            reference=reference,
            line=_line_for(lines, handoff.item_code),
            require_open_demand=require_open,
        )


def get_handoff(*, session: Session, handoff_id: int, lock: bool = False) -> Handoff:
    query = select(Handoff).where(Handoff.id == handoff_id)
    if lock:
        query = query.with_for_update()
    found = session.exec(query).first()
    if found is None:
        raise UnknownHandoff(f"unknown hand-off {handoff_id}")
    return found


def list_handoffs(
    *, session: Session, partner: str | None = None, state: HandoffState | None = None
) -> list[tuple[Handoff, str]]:
    """Hand-offs with their partner's name, newest first."""
    query = select(Handoff, Partner.name).join(Partner, col(Partner.id) == Handoff.partner_id)
    if partner is not None:
        query = query.where(Partner.id == get_partner(session=session, name=partner).id)
    if state is not None:
        query = query.where(Handoff.state == state)
    return [(h, n) for h, n in session.exec(query.order_by(col(Handoff.id).desc()))]


def receipts_of(*, session: Session, handoff_id: int) -> list[HandoffReceipt]:
    return list(
        session.exec(
            select(HandoffReceipt)
            .where(HandoffReceipt.handoff_id == handoff_id)
            .order_by(col(HandoffReceipt.id))
        )
    )


def queue_send(*, session: Session, handoff_id: int) -> HandoffCommand:
    """Put a send command in the outbox (the worker places the order); harmless twice.

    Raises:
        UnknownHandoff, HandoffStateError (placed by hand, already sent, cancelled).
    """
    handoff = get_handoff(session=session, handoff_id=handoff_id, lock=True)
    if handoff.manual:
        raise HandoffStateError(f"hand-off {handoff_id} was placed by hand (exported): no API send")
    pending = _pending(session, handoff_id, "send")
    if pending is not None:
        return pending
    if handoff.state not in (HandoffState.DRAFT, HandoffState.REFUSED):
        raise HandoffStateError(f"hand-off {handoff_id} is {handoff.state}: it cannot be sent")
    if handoff.cancel_reason:  # refused, then replaced by a later plan: its cancel is under way
        raise HandoffStateError(
            f"hand-off {handoff_id} was {handoff.cancel_reason}: send the hand-offs of the plan "
            "that replaced it instead"
        )
    handoff.state, handoff.last_error = HandoffState.QUEUED, ""
    return _enqueue(session, handoff, "send")


def queue_cancel(*, session: Session, handoff_id: int) -> HandoffCommand | None:
    """Cancel: at once for a hand-off never sent (or placed by hand), else through the outbox.

    Raises:
        UnknownHandoff, HandoffStateError (delivered or cancelled already, or being sent now).
    """
    handoff = get_handoff(session=session, handoff_id=handoff_id, lock=True)
    if handoff.state in (HandoffState.DELIVERED, HandoffState.CANCELLED):
        raise HandoffStateError(f"hand-off {handoff_id} is {handoff.state}: nothing to cancel")
    pending = _pending(session, handoff_id, "cancel")
    if pending is not None:
        return pending
    send = _pending(session, handoff_id, "send")
    if send is not None:
        if send.leased_until is not None and send.leased_until > utc_now():
            raise HandoffStateError(
                f"hand-off {handoff_id} is being sent right now: cancel it again in a minute"
            )
        send.state, send.finished_at = CommandState.FAILED, utc_now()
        send.last_error = "cancelled before it was sent"
        session.add(send)
    if handoff.manual or (handoff.state is HandoffState.DRAFT and send is None):
        _set(handoff, HandoffState.CANCELLED)
        session.add(handoff)
        session.flush()
        return None
    # a send may have reached the partner even though we never heard back: cancel by reference
    return _enqueue(session, handoff, "cancel")


def keep_exported(*, session: Session, handoff_id: int) -> Handoff:
    """A hand-off exported to be sent by hand: if an accepted plan recorded it as a draft, it is
    the coordinator's own from now on (it may already be in the partner's mailbox), so a later
    plan counts it as handed off and never replaces it. Its note still names the plan."""
    handoff = get_handoff(session=session, handoff_id=handoff_id, lock=True)
    if handoff.state is HandoffState.DRAFT and handoff.plan_id is not None:
        handoff.plan_id = None
        handoff.updated_at = utc_now()
        session.add(handoff)
        session.flush()
    return handoff


def replace_plan_proposals(*, session: Session, plan_id: int) -> list[Handoff]:
    """Replace what earlier accepted plans recorded and no partner holds (plan ``plan_id`` planned
    that volume again), each with its cause: a draft nobody sent is cancelled at once; one the
    partner refused is cancelled through the outbox (a refusal can come after the order was
    created, when it is confirmed) and can no longer be sent. Sent, confirmed or queued hand-offs
    are kept. Returns those replaced now."""
    replaced = []
    for handoff in plan_proposals(session=session, lock=True):
        ident = handoff.id or 0
        if handoff.plan_id == plan_id or handoff.cancel_reason or _pending(session, ident, "send"):
            continue  # this plan's own, replaced already, or being sent
        if handoff.state is HandoffState.REFUSED:
            handoff.cancel_reason = (
                f"replaced by plan {plan_id} (refused by the partner, a hand-off of plan "
                f"{handoff.plan_id})"
            )
            if _pending(session, ident, "cancel") is None:  # not cancelled by hand already
                _enqueue(session, handoff, "cancel")
            session.add(handoff)
        else:
            _set(handoff, HandoffState.CANCELLED)
            handoff.cancel_reason = (
                f"replaced by plan {plan_id} (a draft of plan {handoff.plan_id})"
            )
            session.add(handoff)
        replaced.append(handoff)
    session.flush()
    return replaced


def _pending(session: Session, handoff_id: int, kind: str) -> HandoffCommand | None:
    return session.exec(
        select(HandoffCommand).where(
            HandoffCommand.handoff_id == handoff_id,
            HandoffCommand.kind == kind,
            HandoffCommand.state == CommandState.PENDING,
        )
    ).first()


def _enqueue(session: Session, handoff: Handoff, kind: str) -> HandoffCommand:
    now = utc_now()
    command = HandoffCommand(
        handoff_id=handoff.id or 0,
        kind=kind,
        state=CommandState.PENDING,
        next_attempt_at=now,
        created_at=now,
    )
    handoff.updated_at = now
    session.add(handoff)
    session.add(command)
    session.flush()
    return command


def _set(handoff: Handoff, state: HandoffState) -> None:
    handoff.state, handoff.updated_at = state, utc_now()


def require_sent(handoff: Handoff) -> None:
    """Raises NotSent for a hand-off that has no order in the partner's Odoo."""
    if handoff.remote_id is None:
        raise NotSent(
            f"hand-off {handoff.id} was never sent to the partner "
            f"(it is {handoff.state}): 'handoff send {handoff.id}' first"
        )


def apply_sync(
    *,
    session: Session,
    handoff_id: int,
    order: RemoteOrder | None,
    deliveries: Sequence[Delivery],
    actor: str,
) -> SyncResult:
    """Bring a hand-off up to date with what its partner's Odoo says; post new deliveries once."""
    handoff = get_handoff(session=session, handoff_id=handoff_id, lock=True)
    require_sent(handoff)
    posted_now = 0
    for delivery in deliveries:
        posted_now += _receive(
            session,
            handoff,
            source=f"picking:{delivery.id}",
            name=delivery.name,
            state=delivery.state,
            total=delivery.done,
            actor=actor,
        )
    if order is not None:
        handoff.remote_state = order.state
        handoff.remote_name = order.name or handoff.remote_name
    _refresh_state(handoff, cancelled=order is not None and order.state == "cancel")
    handoff.synced_at = utc_now()
    session.add(handoff)
    session.flush()
    return SyncResult(
        handoff.id or 0, handoff.state, handoff.remote_state, handoff.delivered, posted_now
    )


def _refresh_state(handoff: Handoff, *, cancelled: bool) -> None:
    if cancelled or handoff.state is HandoffState.CANCELLED:
        new = HandoffState.CANCELLED
    elif handoff.delivered >= handoff.quantity:
        new = HandoffState.DELIVERED
    elif handoff.delivered > 0:
        new = HandoffState.PARTIAL
    else:
        new = HandoffState.SENT
    if new is not handoff.state:
        _set(handoff, new)


def _receive(
    session: Session,
    handoff: Handoff,
    *,
    source: str,
    name: str,
    state: str,
    total: int,
    actor: str,
) -> int:
    """Post what a delivery brought beyond what was posted for it already; return that."""
    receipt = session.exec(
        select(HandoffReceipt).where(
            HandoffReceipt.handoff_id == handoff.id, HandoffReceipt.source == source
        )
    ).first()
    if receipt is None:
        receipt = HandoffReceipt(
            handoff_id=handoff.id or 0, source=source, name=name[:80], updated_at=utc_now()
        )
    receipt.state = state[:24]
    extra = total - receipt.posted
    if extra > 0:
        post(
            session=session,
            request=PostingRequest(
                reason=MoveReason.HANDOFF,
                doc_type=DOC_TYPE,
                doc_id=str(handoff.id),
                legs=(
                    Leg(handoff.item_code, catalogue.PARTNERS, -extra),
                    Leg(handoff.item_code, handoff.destination, extra),
                ),
                actor=actor,
                idempotency_key=f"handoff:{handoff.id}:{source}:{total}",
                note=f"{name or source} delivered by the partner"[:500],
            ),
        )
        receipt.posted = total
        handoff.delivered += extra
        _link(session, handoff, require_open=False)
        _announce_arrival(session, handoff, source=name or source, quantity=extra, actor=actor)
    receipt.updated_at = utc_now()
    session.add(receipt)
    session.flush()
    return max(extra, 0)


def _announce_arrival(
    session: Session, handoff: Handoff, *, source: str, quantity: int, actor: str
) -> None:
    """Goods the partner took straight to a hospital arrived there: tell the orders they serve,
    as a signed receipt would (``receipt_confirmed``), so an order delivered in full says so."""
    place = catalogue.get_location(session=session, code=handoff.destination)
    if place.kind is not LocationKind.HOSPITAL:
        return
    for reference in filter(None, handoff.orders.split(",")):
        events.publish(
            session=session,
            event=events.Event(
                "receipt_confirmed",
                actor,
                {
                    "reference": reference,
                    "shipment": f"handoff/{handoff.id} {source}",
                    "received": quantity,
                    "refused": 0,
                    "fully_delivered": demand.fully_delivered(session=session, reference=reference),
                },
            ),
        )


def record_sent(*, session: Session, handoff_id: int, order: RemoteOrder) -> Handoff:
    """The partner's Odoo holds and confirmed the order (the worker's success)."""
    handoff = get_handoff(session=session, handoff_id=handoff_id, lock=True)
    handoff.remote_id, handoff.remote_name = order.id, order.name or handoff.remote_name
    handoff.remote_state, handoff.last_error = order.state, ""
    if handoff.state in (HandoffState.QUEUED, HandoffState.DRAFT, HandoffState.REFUSED):
        _set(handoff, HandoffState.CANCELLED if order.state == "cancel" else HandoffState.SENT)
    session.add(handoff)
    session.flush()
    return handoff


def record_cancelled(*, session: Session, handoff_id: int, remote_id: int | None) -> Handoff:
    handoff = get_handoff(session=session, handoff_id=handoff_id, lock=True)
    if remote_id is not None:
        handoff.remote_id, handoff.remote_state = remote_id, "cancel"
    _set(handoff, HandoffState.CANCELLED)
    session.add(handoff)
    session.flush()
    return handoff


def confirm_by_hand(*, session: Session, handoff_id: int, partner_reference: str = "") -> Handoff:
    """Record that the partner confirmed an order placed without the API (``handoff export``).

    Raises:
        UnknownHandoff, HandoffStateError (queued or sent through the API, cancelled).
    """
    handoff = get_handoff(session=session, handoff_id=handoff_id, lock=True)
    if handoff.state is not HandoffState.DRAFT and not handoff.manual:
        raise HandoffStateError(
            f"hand-off {handoff_id} is {handoff.state} through the partner's Odoo: "
            "it cannot be confirmed by hand"
        )
    if handoff.state is not HandoffState.DRAFT:
        raise HandoffStateError(f"hand-off {handoff_id} is {handoff.state} already")
    handoff.manual, handoff.remote_name = True, partner_reference.strip()[:80]
    handoff.remote_state = "confirmed by hand"
    _set(handoff, HandoffState.SENT)
    session.add(handoff)
    session.flush()
    return handoff


def receive_by_hand(
    *, session: Session, handoff_id: int, quantity: int, actor: str, reference: str = ""
) -> SyncResult:
    """Record a delivery the partner reports for a hand-off placed by hand; post it.

    Raises:
        UnknownHandoff, HandoffStateError (not placed by hand, or not confirmed), InvalidInput.
    """
    handoff = get_handoff(session=session, handoff_id=handoff_id, lock=True)
    if not handoff.manual:
        raise HandoffStateError(
            f"hand-off {handoff_id} goes through the partner's Odoo: 'handoff sync' reads its "
            "deliveries"
        )
    if handoff.state not in _OPEN:
        raise HandoffStateError(
            f"hand-off {handoff_id} is {handoff.state}: only a confirmed hand-off receives"
        )
    if isinstance(quantity, bool) or not 0 < quantity <= 10_000_000:
        raise InvalidInput(f"--qty must be a whole number from 1 to 10,000,000, got {quantity}")
    number = len(receipts_of(session=session, handoff_id=handoff_id)) + 1
    posted = _receive(
        session,
        handoff,
        source=f"manual:{number}",
        name=reference or f"receipt {number}",
        state="done",
        total=quantity,
        actor=actor,
    )
    _refresh_state(handoff, cancelled=False)
    session.add(handoff)
    session.flush()
    return SyncResult(handoff.id or 0, handoff.state, "", handoff.delivered, posted)


def item_name(*, session: Session, code: str) -> str:
    item = session.exec(select(Item).where(Item.code == code)).first()
    return item.name if item is not None else code
