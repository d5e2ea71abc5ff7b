"""E-mails about orders, queued in the outbox (:class:`OrderMail`) in the transaction of the
change they tell of: an order that is not created, or a change rolled back, leaves no message.

To the hospital: creation, acceptance, rejection, planning (and a new date), shipment, delivery,
cancellation; to the managers: every new order. Plain French text with the reference and the
hospital's own purchase-order number; never the status link (a secret that opens the order).

The hospital's recipient is the person of the link that placed the order, else an address in
the delivery site's contact, else the order's contact e-mail. Services here never commit.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import insert
from sqlmodel import Session, col, select

from fabcoord.clock import utc_now
from fabcoord.demand import LineSpec
from fabcoord.records import Hospital
from orders.forms import ITEM_FR, PRIORITY_FR
from orders.mail_models import Audience, MailState, OrderMail
from orders.models import HospitalLink, HospitalSite, Order, OrderLine, OrderStatus

S = OrderStatus
_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_SAID = {  # (kind, subject's state, the sentence that opens the message)
    S.RECEIVED: (
        "created",
        "reçue",
        "Votre commande a bien été reçue. Elle sera examinée par "
        "les coordinateurs, qui vous diront s'ils l'acceptent.",
    ),
    S.ACCEPTED: (
        "accepted",
        "acceptée",
        "Votre commande a été acceptée. Sa date de livraison "
        "vous sera indiquée dès qu'elle sera planifiée.",
    ),
    S.REJECTED: ("rejected", "refusée", "Votre commande a été refusée."),
    S.PLANNED: ("planned", "planifiée", "Votre commande est planifiée."),
    S.SHIPPED: ("shipped", "expédiée", "Votre commande a été expédiée."),
    S.DELIVERED: (
        "delivered",
        "livrée",
        "Votre commande est livrée : sa réception est enregistrée.",
    ),
    S.CANCELLED: ("cancelled", "annulée", "Votre commande a été annulée."),
}
_OUTBOX = OrderMail.__table__  # type: ignore[attr-defined]
_REPLANNED = ("replanned", "nouvelle date", "La date de livraison de votre commande a changé.")
_FOOTER = (
    "Pour suivre la commande, utilisez le lien personnel qui vous a été remis ; il n'est pas "
    "repris dans ce message.\n\n-- \nfabcoord, coordination des fablabs pour les hôpitaux\n"
    "Message automatique : merci de ne pas y répondre."
)


def order_created(*, session: Session, order: Order, lines: Sequence[OrderLine | LineSpec]) -> None:
    """Queue the hospital's confirmation and the managers' notice of a new order."""
    hospital = _hospital_name(session, order)
    mails = _for_hospital(session, order, lines, hospital, _SAID[S.RECEIVED], reason="")
    details = _details(order, lines, hospital)
    urgency = PRIORITY_FR.get(order.priority.value, order.priority.value)
    if order.urgency_reason:
        urgency += f" ({order.urgency_reason})"
    body = (
        f"Nouvelle commande {order.reference} de {hospital}, à accepter ou refuser.\n\n"
        f"{details}\nPriorité : {urgency}\n"
        f"Contact : {order.contact_name}, {order.contact_email}, {order.contact_phone}\n"
        + (f"Remarques : {order.notes}\n" if order.notes else "")
        + f"\nfabcoord orders show {order.reference}\n"
        f"fabcoord orders accept {order.reference}  (ou reject --reason …)\n"
    )
    mails.append(
        _mail(
            order,
            "new_order",
            Audience.MANAGERS,
            "",
            f"Nouvelle commande {order.reference} — {hospital} — {order.quantity} visières",
            body,
        )
    )
    _queue(session, mails)


def status_changed(*, session: Session, order: Order, reason: str) -> None:
    """Queue the hospital's message for the state ``order`` just reached (none for states it
    is not told of)."""
    said = _SAID.get(order.status)
    if said is None or order.status is S.RECEIVED:
        return
    lines = _lines(session, order)
    _queue_hospital(session, order, lines, _hospital_name(session, order), said, reason=reason)


def replanned(*, session: Session, order: Order, reason: str) -> None:
    """Queue the hospital's message about a new delivery date."""
    lines = _lines(session, order)
    _queue_hospital(session, order, lines, _hospital_name(session, order), _REPLANNED, reason)


def hospital_address(*, session: Session, order: Order) -> str:
    """Whom the hospital's messages about ``order`` go to ("" when nobody)."""
    if order.link_id is not None:
        link = session.get(HospitalLink, order.link_id)
        if link is not None and link.person_email:
            return link.person_email
    if order.site_id is not None:
        site = session.get(HospitalSite, order.site_id)
        found = _ADDRESS.search(site.contact) if site is not None else None
        if found:
            return found.group(0)
    return order.contact_email


def _queue_hospital(
    session: Session,
    order: Order,
    lines: Sequence[OrderLine | LineSpec],
    hospital: str,
    said: tuple[str, str, str],
    reason: str,
) -> None:
    _queue(session, _for_hospital(session, order, lines, hospital, said, reason))


def _for_hospital(
    session: Session,
    order: Order,
    lines: Sequence[OrderLine | LineSpec],
    hospital: str,
    said: tuple[str, str, str],
    reason: str,
) -> list[dict[str, object]]:
    """The hospital's message (none when there is nobody to send it to)."""
    address = hospital_address(session=session, order=order)
    if not address:
        return []
    kind, state, opening = said
    ours = f" (votre bon de commande {order.purchase_order})" if order.purchase_order else ""
    subject = f"Commande {order.reference}{ours} : {state}"
    why = f"\nMotif : {reason}\n" if reason else ""
    body = f"Bonjour,\n\n{opening}\n{why}\n{_details(order, lines, hospital)}\n{_FOOTER}\n"
    return [_mail(order, kind, Audience.HOSPITAL, address, subject, body)]


def _details(order: Order, lines: Sequence[OrderLine | LineSpec], hospital: str) -> str:
    items = "".join(
        f"  - {line.quantity} × {ITEM_FR.get(line.item_code, line.item_code)}\n" for line in lines
    )
    rows = [
        f"Référence : {order.reference}",
        *([f"Votre bon de commande : {order.purchase_order}"] if order.purchase_order else []),
        f"Hôpital : {hospital}",
        f"Service : {order.department}",
        f"Articles :\n{items.rstrip()}",
        f"Date de besoin : {order.needed_by:%d/%m/%Y}",
        f"Livraison à : {order.delivery_address}",
    ]
    if order.expected_delivery is not None:
        rows.append(f"Livraison prévue : {order.expected_delivery:%d/%m/%Y}")
    return "\n".join(rows) + "\n"


def _mail(
    order: Order, kind: str, audience: Audience, to: str, subject: str, body: str
) -> dict[str, object]:
    """One outbox row, as the values of :class:`OrderMail`'s columns."""
    now = utc_now()
    return {
        "order_id": order.id or 0,
        "kind": kind,
        "audience": audience,
        "to_address": to[:254],
        "subject": " ".join(subject.split())[:200],
        "body": body,
        "state": MailState.PENDING,
        "attempts": 0,
        "last_error": "",
        "created_at": now,
        "next_attempt_at": now,
        "leased_until": None,
        "sent_at": None,
    }


def _queue(session: Session, mails: list[dict[str, object]]) -> None:
    """Write the messages in one statement, one ``VALUES`` row each (a plain insert: the outbox
    rows are not read back as objects here, and the ORM's unit of work would cost more than the
    insert; a driver's executemany costs more than one statement for a couple of rows)."""
    if mails:
        session.execute(insert(_OUTBOX).values(mails))


def _hospital_name(session: Session, order: Order) -> str:
    hospital = session.get(Hospital, order.hospital_id)
    return hospital.name if hospital is not None else ""


def _lines(session: Session, order: Order) -> list[OrderLine]:
    return list(
        session.exec(
            select(OrderLine).where(OrderLine.order_id == order.id).order_by(col(OrderLine.line))
        )
    )
