"""Makers who print frames at home, without OctoPrint, for a fablab.

A maker declares how many frames a day they can make; what they bring is posted into the fablab's
stock (reason ``print_output``, document ``maker_delivery``/id), linked to a hospital order when one
is named. Their *reliability* is what they delivered over the last 7 days (or since they joined)
divided by what they declared for that time, at most 1; the plan counts ``declared × reliability``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from fabcoord import demand, fablabs
from fabcoord.clock import utc_now
from fabcoord.errors import AlreadyExists, InvalidInput, NotFound
from fabcoord.ledger import catalogue
from fabcoord.ledger.models import MoveReason
from fabcoord.ledger.posting import Leg, PostingRequest, post
from fabcoord.planning.models import Maker, MakerDelivery
from fabcoord.records import Fablab

FRAME_ITEM = "visor-frame"
DELIVERY_DOCUMENT = "maker_delivery"
RELIABILITY_WINDOW = timedelta(days=7)
MAX_PER_DAY = 10_000
MAX_DELIVERY = 100_000


class UnknownMaker(NotFound):
    """No maker has that name."""


@dataclass(frozen=True)
class MakerPublic:
    name: str
    fablab: str
    declared_per_day: int
    delivered_7d: int
    reliability: float | None  # None: joined less than a day ago, not measured yet
    effective_per_day: float


@dataclass(frozen=True)
class DeliveryReport:
    maker: str
    fablab: str
    frames: int
    delivery_id: int
    posting_id: int | None
    reference: str


def add_maker(*, session: Session, name: str, fablab: str, declared_per_day: int) -> MakerPublic:
    """Register a maker.

    Raises:
        InvalidInput (empty name, rate out of range), UnknownFablab, AlreadyExists.
    """
    name = " ".join(name.split())
    if not name or len(name) > 120:
        raise InvalidInput("maker name must be 1 to 120 characters")
    if not 0 <= declared_per_day <= MAX_PER_DAY:
        raise InvalidInput(f"--declared-per-day must be 0 to {MAX_PER_DAY}, got {declared_per_day}")
    lab = fablabs.get_fablab(session=session, name=fablab)
    if session.exec(select(Maker).where(Maker.name == name)).first() is not None:
        raise AlreadyExists(f"maker {name!r} exists already")
    assert lab.id is not None
    maker = Maker(
        name=name, fablab_id=lab.id, declared_per_day=declared_per_day, created_at=utc_now()
    )
    session.add(maker)
    session.flush()
    return describe(session=session, makers=[maker])[0]


def get_maker(*, session: Session, name: str) -> Maker:
    maker = session.exec(select(Maker).where(Maker.name == " ".join(name.split()))).first()
    if maker is None:
        raise UnknownMaker(f"unknown maker {name!r} (see 'fabcoord makers list')")
    return maker


def deliver(
    *, session: Session, name: str, frames: int, actor: str, reference: str = ""
) -> DeliveryReport:
    """Post a maker's frames into their fablab's stock (linked to ``reference`` when given).

    Raises:
        InvalidInput (frames out of range), UnknownMaker, UnknownDemand, DemandClosed.
    """
    if not 1 <= frames <= MAX_DELIVERY:
        raise InvalidInput(f"--frames must be 1 to {MAX_DELIVERY}, got {frames}")
    maker = get_maker(session=session, name=name)
    reference = reference.strip()
    if reference:
        demand.require_open(session=session, reference=reference)
    lab = session.get(Fablab, maker.fablab_id)
    assert lab is not None and maker.id is not None
    row = MakerDelivery(
        maker_id=maker.id, frames=frames, reference=reference, delivered_at=utc_now()
    )
    session.add(row)
    session.flush()
    doc_id = str(row.id)
    posted = post(
        session=session,
        request=PostingRequest(
            reason=MoveReason.PRINT_OUTPUT,
            doc_type=DELIVERY_DOCUMENT,
            doc_id=doc_id,
            legs=(
                Leg(FRAME_ITEM, catalogue.PRODUCTION, -frames),
                Leg(FRAME_ITEM, fablabs.stock_location_code(lab.slug), frames),
            ),
            actor=actor,
            idempotency_key=f"{DELIVERY_DOCUMENT}/{doc_id}",
            note=f"maker {maker.name}" + (f"; order {reference}" if reference else ""),
        ),
    )
    row.posting_id = posted.id
    session.add(row)
    if reference:
        demand.link(
            session=session,
            doc_type=DELIVERY_DOCUMENT,
            doc_id=doc_id,
            reference=reference,
            quantity=frames,
        )
    session.flush()
    return DeliveryReport(maker.name, lab.slug, frames, row.id or 0, posted.id, reference)


def list_makers(*, session: Session, fablab: str | None = None) -> list[MakerPublic]:
    query = select(Maker).order_by(col(Maker.name))
    if fablab is not None:
        query = query.where(Maker.fablab_id == fablabs.get_fablab(session=session, name=fablab).id)
    return describe(session=session, makers=list(session.exec(query)))


def describe(
    *, session: Session, makers: list[Maker], now: datetime | None = None
) -> list[MakerPublic]:
    """Each maker with what they delivered over the window and their measured reliability."""
    now = now or utc_now()
    since = now - RELIABILITY_WINDOW
    ids = [m.id for m in makers]
    delivered = dict(
        session.exec(
            select(MakerDelivery.maker_id, func.sum(MakerDelivery.frames))
            .where(col(MakerDelivery.maker_id).in_(ids), MakerDelivery.delivered_at >= since)
            .group_by(col(MakerDelivery.maker_id))
        ).all()
    )
    labs = {lab.id: lab.slug for lab in session.exec(select(Fablab))}
    result = []
    for maker in makers:
        got = int(delivered.get(maker.id or 0, 0) or 0)
        reliability = measured_reliability(
            declared_per_day=maker.declared_per_day,
            delivered=got,
            joined=maker.created_at,
            now=now,
        )
        rate = maker.declared_per_day * (1.0 if reliability is None else reliability)
        result.append(
            MakerPublic(
                name=maker.name,
                fablab=labs.get(maker.fablab_id, ""),
                declared_per_day=maker.declared_per_day,
                delivered_7d=got,
                reliability=reliability,
                effective_per_day=round(rate, 2),
            )
        )
    return result


def measured_reliability(
    *, declared_per_day: int, delivered: int, joined: datetime, now: datetime
) -> float | None:
    """Delivered ÷ declared over the window (or since joining), at most 1; None in the first day
    (nothing to measure yet: the declaration is taken as it is)."""
    if joined.tzinfo is None:
        joined = joined.replace(tzinfo=now.tzinfo)
    days = min(RELIABILITY_WINDOW, now - joined) / timedelta(days=1)
    if days < 1:
        return None
    if declared_per_day <= 0:
        return 0.0
    return round(min(1.0, delivered / (declared_per_day * days)), 3)
