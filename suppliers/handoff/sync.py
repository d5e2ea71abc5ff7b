"""Sync: read sale orders and every picking (backorders included) back from the partners' Odoo.

Per partner and per chunk of up to ``chunk`` hand-offs, three calls whatever the chunk's size: the
orders, their pickings, the pickings' moves. Nothing is held open while the partner answers: the
hand-offs are read in one short transaction and each chunk's outcome written in another.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

from sqlalchemy import Engine, and_, or_
from sqlmodel import col, select

from fabcoord.db import unit_of_work
from suppliers.handoff import service
from suppliers.handoff.errors import HandoffStateError
from suppliers.handoff.models import Handoff, HandoffState, Partner
from suppliers.handoff.odoo import Client
from suppliers.handoff.partners import endpoint_of, get_partner
from suppliers.handoff.remote import PartnerApi
from suppliers.handoff.service import SyncResult


def sync(
    engine: Engine,
    *,
    environ: Mapping[str, str],
    actor: str,
    handoff_id: int | None = None,
    partner: str | None = None,
    chunk: int = 200,
) -> tuple[list[SyncResult], int]:
    """Sync one hand-off, one partner's, or every open one; return the results and RPC calls.

    Raises:
        UnknownHandoff, NotSent (a hand-off never sent), UnknownPartner, ConfigError (key not set),
        PartnerError.
    """
    with unit_of_work(engine, read_only=True) as session:
        query = select(Handoff, Partner).join(Partner, col(Partner.id) == Handoff.partner_id)
        if handoff_id is not None:
            handoff = service.get_handoff(session=session, handoff_id=handoff_id)
            if handoff.manual:
                raise HandoffStateError(
                    f"hand-off {handoff_id} was placed by hand: 'handoff receive' records it"
                )
            service.require_sent(handoff)
            query = query.where(Handoff.id == handoff_id)
        else:
            query = query.where(
                col(Handoff.remote_id).is_not(None),
                col(Handoff.manual).is_(False),
                or_(
                    col(Handoff.state).in_([HandoffState.SENT, HandoffState.PARTIAL]),
                    and_(
                        col(Handoff.state) == HandoffState.CANCELLED,
                        or_(
                            col(Handoff.synced_at).is_(None),
                            col(Handoff.synced_at) < Handoff.updated_at,
                        ),
                    ),
                ),
            )
            if partner is not None:
                query = query.where(Partner.id == get_partner(session=session, name=partner).id)
        targets: dict[int, list[tuple[int, int]]] = defaultdict(list)
        partners: dict[int, Partner] = {}
        for handoff, owner in session.exec(query.order_by(col(Handoff.id))):
            assert handoff.remote_id is not None
            targets[owner.id or 0].append((handoff.id or 0, handoff.remote_id))
            partners[owner.id or 0] = owner
    results: list[SyncResult] = []
    calls = 0
    for partner_id, pairs in targets.items():
        with Client(endpoint_of(partners[partner_id], environ)) as client:
            api = PartnerApi(client)
            for start in range(0, len(pairs), chunk):
                part = pairs[start : start + chunk]
                remote_ids = [remote for _, remote in part]
                orders = api.read_orders(remote_ids)
                deliveries = api.deliveries(remote_ids)
                with unit_of_work(engine) as session:
                    for local, remote in part:
                        results.append(
                            service.apply_sync(
                                session=session,
                                handoff_id=local,
                                order=orders.get(remote),
                                deliveries=deliveries.get(remote, []),
                                actor=actor,
                            )
                        )
            calls += client.calls
    return results, calls
