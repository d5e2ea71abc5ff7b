"""The hospital acts on its own order while it is ``received`` (not yet accepted): it amends the
lines, the date or the site, or cancels it. Each act is an event naming the link that acted."""

from __future__ import annotations

from sqlalchemy import delete
from sqlmodel import Session, col

from fabcoord.ledger.posting import utc_now
from orders import lifecycle, links, service, sites
from orders.errors import IllegalTransition, InvalidOrder
from orders.forms import STATUS_FR
from orders.models import Order, OrderLine, OrderStatus
from orders.schemas import OrderAmend, repeated_models


def _received(order: Order, what: str) -> None:
    if order.status is not OrderStatus.RECEIVED:
        raise IllegalTransition(
            f"la commande {order.reference} est déjà {STATUS_FR[order.status.value]} : "
            "elle ne peut plus "
            f"être {what} (seulement tant qu'elle est reçue, avant acceptation)"
        )


def amend_order(
    *,
    session: Session,
    reference: str,
    hospital_id: int,
    change: OrderAmend,
    actor: str,
    link_id: int | None = None,
) -> Order:
    """Change the lines, date or site of a received order of this hospital.

    Raises:
        UnknownOrder, IllegalTransition (accepted already), InvalidOrder (unknown or repeated
        model, unknown site, nothing to change).
    """
    order = lifecycle.locked(session=session, reference=reference, hospital_id=hospital_id)
    _received(order, "modifiée")
    problems: dict[str, str] = {}
    if change.lines is None and change.needed_by is None and change.site is None:
        problems["body"] = "Rien à modifier : indiquez lines, needed_by ou site."
    known = service.catalogue(session=session)
    problems |= repeated_models([line.item for line in change.lines or []])
    for number, line in enumerate(change.lines or []):
        if line.item not in known:
            problems[f"lines.{number}.item"] = "Modèle inconnu."
    site = None
    if change.site is not None:
        try:
            site = sites.find_site(session=session, hospital_id=hospital_id, site=change.site)
        except sites.UnknownSite:
            problems["site"] = "Site inconnu : choisissez un des sites proposés."
    if problems:
        raise InvalidOrder(problems)
    said: list[str] = []
    if change.lines is not None:
        session.execute(delete(OrderLine).where(col(OrderLine.order_id) == order.id))
        session.add_all(
            OrderLine(order_id=order.id or 0, line=n, item_code=x.item, quantity=x.quantity)
            for n, x in enumerate(change.lines, start=1)
        )
        order.item_code = change.lines[0].item
        order.quantity = sum(x.quantity for x in change.lines)
        said.append(" + ".join(f"{x.quantity} {x.item}" for x in change.lines))
    if change.needed_by is not None:
        order.needed_by = change.needed_by
        said.append(f"besoin le {change.needed_by.strftime('%d/%m/%Y')}")
    if site is not None:
        order.site_id, order.delivery_address = site.id, sites.label(site)
        said.append(f"livraison à {site.name}")
    order.updated_at = utc_now()
    if link_id is not None:
        links.mark_used(session=session, link_id=link_id)
    session.flush()
    text = "modifiée : " + ", ".join(said) + (f" ({change.reason})" if change.reason else "")
    return lifecycle.record(
        session=session,
        order=order,
        to=OrderStatus.RECEIVED,
        actor=actor,
        reason=text[:500],
        link_id=link_id,
    )


def cancel_by_hospital(
    *,
    session: Session,
    reference: str,
    hospital_id: int,
    reason: str,
    actor: str,
    link_id: int | None = None,
) -> Order:
    """The hospital cancels its received order.

    Raises:
        UnknownOrder, IllegalTransition (accepted already), InvalidInput (no reason).
    """
    order = lifecycle.locked(session=session, reference=reference, hospital_id=hospital_id)
    _received(order, "annulée par l'hôpital")
    if link_id is not None:
        links.mark_used(session=session, link_id=link_id)
    return lifecycle.transition(
        session=session,
        reference=order.reference,
        to=OrderStatus.CANCELLED,
        actor=actor,
        reason=f"annulée par l'hôpital : {reason}",
        link_id=link_id,
        hospital_id=hospital_id,
    )
