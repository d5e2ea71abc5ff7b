"""Creating and reading orders. Services take ``*, session`` and never commit."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence

from sqlalchemy import bindparam, insert, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import Session, col, select

from fabcoord.demand import LineSpec
from fabcoord.errors import DatabaseBusy
from fabcoord.ledger.models import Item, ItemKind
from fabcoord.ledger.posting import utc_now
from fabcoord.records import Hospital
from orders import links, notify, projection, sites
from orders.errors import IdempotencyKeyReused, InvalidOrder, UnknownOrder
from orders.models import HospitalSite, Order, OrderEvent, OrderLine, OrderStatus
from orders.progress import Progress, progress
from orders.schemas import (
    OrderCreate,
    OrderEventPublic,
    OrderLineIn,
    OrderLinePublic,
    OrderPublic,
    SitePublic,
)

_ORDERS = Order.__table__  # type: ignore[attr-defined]
_LINES = OrderLine.__table__  # type: ignore[attr-defined]
_EVENTS = OrderEvent.__table__  # type: ignore[attr-defined]
# the statements of every order, built once (building one costs about as much as running it)
_WRITTEN = [column.name for column in _ORDERS.columns if column.name != "id"]
_INSERT_ORDER = {  # no row when the hospital already used the idempotency key
    "postgresql": postgresql.insert(_ORDERS)
    .on_conflict_do_nothing(index_elements=["hospital_id", "idempotency_key"])
    .returning(_ORDERS.c.id),
    "sqlite": sqlite.insert(_ORDERS)
    .on_conflict_do_nothing(index_elements=["hospital_id", "idempotency_key"])
    .returning(_ORDERS.c.id),
}
_SET_REFERENCE = (
    update(_ORDERS)
    .where(_ORDERS.c.id == bindparam("order_id"))
    .values(reference=bindparam("new_reference"))
)
_INSERT_LINE = insert(_LINES)
_INSERT_EVENT = insert(_EVENTS)


def fingerprint(order: OrderCreate) -> str:
    """Hash of an order's content, to tell a replay from a different order under the same key."""
    content = json.dumps(order.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(content.encode()).hexdigest()


def create_order(
    *,
    session: Session,
    hospital_id: int,
    order: OrderCreate,
    actor: str,
    channel: str,
    link_id: int | None = None,
    idempotency_key: str | None = None,
) -> tuple[Order, bool]:
    """Record a hospital's order in state ``received``.

    Returns:
        The order and whether it was created now (``False``: a replay of the same key and content).

    Raises:
        InvalidOrder: cross-field rules (a model on two lines among them) or an unknown model of
            visor.
        IdempotencyKeyReused: the key was used for a different order of this hospital.
    """
    problems = order.check_urgency()
    lines = order.order_lines()
    known = set(catalogue(session=session))
    for number, line in enumerate(lines):
        if line.item not in known:
            problems["item" if not order.lines else f"lines.{number}.item"] = "Modèle inconnu."
    site: HospitalSite | None = None
    if order.site is not None:
        try:
            site = sites.find_site(session=session, hospital_id=hospital_id, site=order.site)
        except sites.UnknownSite:
            problems["site"] = "Site inconnu : choisissez un des sites proposés."
    if problems:
        raise InvalidOrder(problems)
    print_ = fingerprint(order)
    if site is None:
        site = sites.site_at(
            session=session, hospital_id=hospital_id, address=order.delivery_address
        )
    made_site = None  # a savepoint before a new site: undone if the key turns out to be used
    if site is None:  # a new address makes a site, but never for a replay
        earlier = _by_key(session, hospital_id, idempotency_key) if idempotency_key else None
        if earlier is not None:
            return _replay(earlier, print_, idempotency_key or ""), False
        if idempotency_key:  # the same key may be in flight (PostgreSQL): see the insert below
            made_site = session.begin_nested()
        site = sites.new_site_at(
            session=session, hospital_id=hospital_id, address=order.delivery_address, actor=actor
        )
    now = utc_now()
    record = Order(
        reference=f"TMP-{uuid.uuid4().hex}",
        hospital_id=hospital_id,
        link_id=link_id,
        site_id=site.id,
        purchase_order=order.purchase_order,
        channel=channel,
        item_code=lines[0].item,
        quantity=sum(line.quantity for line in lines),
        department=order.department,
        contact_name=order.contact_name,
        contact_email=order.contact_email,
        contact_phone=order.contact_phone,
        needed_by=order.needed_by,
        delivery_address=sites.label(site),
        priority=order.priority,
        urgency_reason=order.urgency_reason,
        notes=order.notes,
        status=OrderStatus.RECEIVED,
        idempotency_key=idempotency_key,
        fingerprint=print_,
        created_at=now,
        updated_at=now,
    )
    # plain statements rather than the ORM's unit of work (its two flushes cost more than the
    # insert and the update); the order is then handed to the session as the row it wrote
    written = {name: getattr(record, name) for name in _WRITTEN}
    # a key already used makes no row (ON CONFLICT DO NOTHING; on PostgreSQL after the other
    # transaction that used it ends): no lookup first, no savepoint
    dialect = session.get_bind().dialect.name
    order_id = session.execute(_INSERT_ORDER[dialect], written).scalar_one_or_none()
    if order_id is None:
        if made_site is not None:
            made_site.rollback()  # the site made for a replay is not kept
        earlier = _by_key(session, hospital_id, idempotency_key or "")
        if earlier is None:  # its transaction rolled back between the insert and the lookup
            raise DatabaseBusy("commande en cours d'enregistrement sous cette clé, réessayez")
        return _replay(earlier, print_, idempotency_key or ""), False
    if made_site is not None:
        made_site.commit()
    record.id, record.reference = order_id, f"CMD-{now.year}-{order_id:06d}"
    session.execute(_SET_REFERENCE, {"order_id": order_id, "new_reference": record.reference})
    make_transient_to_detached(record)  # as if read back: nothing left for the ORM to write
    session.add(record)
    rows = [LineSpec(number, line.item, line.quantity) for number, line in enumerate(lines, 1)]
    # the order's other rows are written by plain statements: they are not read back as
    # objects in this transaction, and the ORM's unit of work costs more than the insert
    session.execute(
        _INSERT_LINE,
        [
            {
                "order_id": record.id,
                "line": r.line,
                "item_code": r.item_code,
                "quantity": r.quantity,
            }
            for r in rows
        ],
    )
    session.execute(
        _INSERT_EVENT,
        {
            "order_id": record.id,
            "from_status": None,
            "to_status": OrderStatus.RECEIVED,
            "actor": actor,
            "reason": _received(channel),
            "at": now,
            "link_id": link_id,
            "quantity": record.quantity,
            "needed_by": record.needed_by,
            "expected_delivery": record.expected_delivery,
        },
    )
    if link_id is not None:
        links.mark_used(session=session, link_id=link_id)
    notify.order_created(session=session, order=record, lines=rows)
    projection.publish(session=session, order=record, lines=rows, new=True)
    session.flush()
    return record, True


def catalogue(*, session: Session) -> dict[str, str]:
    """The models hospitals may order: code → label (finished items of the catalogue)."""
    return {code: name for code, name in session.exec(_CATALOGUE).all()}


_CATALOGUE = (  # built once: every order checks its models against it
    select(Item.code, Item.name).where(Item.kind == ItemKind.FINISHED).order_by(col(Item.code))
)


def _received(channel: str) -> str:
    return f"reçue par {channel}"


def _by_key(session: Session, hospital_id: int, key: str) -> Order | None:
    return session.exec(
        select(Order).where(Order.hospital_id == hospital_id, Order.idempotency_key == key)
    ).first()


def _replay(earlier: Order, print_: str, key: str) -> Order:
    if earlier.fingerprint != print_:
        raise IdempotencyKeyReused(
            f"la clé d'idempotence {key.partition(':')[2][:40]!r} a déjà servi pour la commande "
            f"{earlier.reference}, avec un contenu différent"
        )
    return earlier


def get_order(*, session: Session, reference: str, hospital_id: int | None = None) -> Order:
    """One order by reference; with ``hospital_id``, only if it belongs to that hospital.

    Raises:
        UnknownOrder: no such order (or not this hospital's).
    """
    query = select(Order).where(Order.reference == reference.strip().upper())
    if hospital_id is not None:
        query = query.where(Order.hospital_id == hospital_id)
    order = session.exec(query).first()
    if order is None:
        raise UnknownOrder(f"commande {reference[:40]!r} introuvable")
    return order


def list_orders(
    *,
    session: Session,
    hospital_id: int | None = None,
    status: OrderStatus | None = None,
    limit: int = 200,
) -> list[Order]:
    """Orders, newest first, optionally for one hospital and in one state."""
    query = select(Order)
    if hospital_id is not None:
        query = query.where(Order.hospital_id == hospital_id)
    if status is not None:
        query = query.where(Order.status == status)
    return list(session.exec(query.order_by(col(Order.id).desc()).limit(limit)))


def describe(
    *, session: Session, orders: Sequence[Order], with_events: bool = False
) -> list[OrderPublic]:
    """Orders as shown to people and scripts, with their progress from the ledger."""
    names = dict(
        session.exec(
            select(Hospital.id, Hospital.name).where(
                col(Hospital.id).in_({o.hospital_id for o in orders})
            )
        ).all()
    )
    ids = [o.id for o in orders]
    lines: dict[int, list[OrderLine]] = {}
    for line in session.exec(
        select(OrderLine).where(col(OrderLine.order_id).in_(ids)).order_by(col(OrderLine.line))
    ):
        lines.setdefault(line.order_id, []).append(line)
    site_ids = {o.site_id for o in orders if o.site_id is not None}
    places = {
        site.id: sites.public(site)
        for site in session.exec(select(HospitalSite).where(col(HospitalSite.id).in_(site_ids)))
    }
    done = progress(session=session, orders=orders, lines=lines)
    events: dict[int, list[OrderEventPublic]] = {}
    if with_events and orders:
        for event in session.exec(
            select(OrderEvent)
            .where(col(OrderEvent.order_id).in_([o.id for o in orders]))
            .order_by(col(OrderEvent.id))
        ):
            events.setdefault(event.order_id, []).append(
                OrderEventPublic.model_validate(event, from_attributes=True)
            )
    return [
        _public(
            o,
            names.get(o.hospital_id, ""),
            done[o.reference],
            events.get(o.id or 0, []),
            lines.get(o.id or 0, []),
            places.get(o.site_id),
        )
        for o in orders
    ]


def describe_created(
    *,
    session: Session,
    order: Order,
    created: bool,
    hospital: str,
    actor: str,
    link_id: int | None = None,
    ordered: Sequence[OrderLineIn] | None = None,
) -> OrderPublic:
    """The answer to :func:`create_order`: a new order is described without reading it back
    (nothing has happened to it yet: no postings, one event); a replayed one is read.

    Args:
        ordered: the lines as asked (``OrderCreate.order_lines()``), which :func:`create_order`
            numbered from 1; None: they are read back.
    """
    if not created:
        return describe(session=session, orders=[order], with_events=True)[0]
    received = OrderEventPublic(
        from_status=None,
        to_status=OrderStatus.RECEIVED,
        actor=actor,
        reason=_received(order.channel),
        at=order.created_at,
        link_id=link_id,
    )
    lines = (
        projection.lines_of(session=session, order_id=order.id or 0)
        if ordered is None
        else [LineSpec(number, x.item, x.quantity) for number, x in enumerate(ordered, 1)]
    )
    site = session.get(HospitalSite, order.site_id) if order.site_id else None
    place = sites.public(site) if site else None
    return _public(order, hospital, Progress(), [received], lines, place)


def _public(
    o: Order,
    hospital: str,
    done: Progress,
    events: list[OrderEventPublic],
    lines: Sequence[OrderLine | LineSpec],
    site: SitePublic | None,
) -> OrderPublic:
    return OrderPublic(
        reference=o.reference,
        hospital=hospital,
        status=o.status,
        purchase_order=o.purchase_order,
        item=o.item_code,
        quantity=o.quantity,
        lines=[OrderLinePublic(line=x.line, item=x.item_code, quantity=x.quantity) for x in lines],
        site=site,
        department=o.department,
        contact_name=o.contact_name,
        contact_email=o.contact_email,
        contact_phone=o.contact_phone,
        needed_by=o.needed_by,
        delivery_address=o.delivery_address,
        priority=o.priority,
        urgency_reason=o.urgency_reason,
        notes=o.notes,
        created_at=o.created_at,
        expected_delivery=o.expected_delivery,
        allocated=o.allocated,
        produced=done.produced,
        shipped=done.shipped,
        delivered=done.delivered,
        events=events,
    )
