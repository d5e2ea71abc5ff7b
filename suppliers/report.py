"""What the suppliers package adds to the weekly report (see ``fabcoord.reports.providers``): per
supplier and item, what was ordered and what was received in the week.

- ordered: purchase orders created in the week, in the scope's fablabs, that were placed (not a
  draft, not cancelled, as they stand now: a purchase order keeps no history of its states);
- received: what the ledger's receipts of the week brought into the scope's stock, per purchase
  order (reversals counted against them); receipts of no purchase order (``stock receive``) are
  one row of their own.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import String, cast, select
from sqlmodel import Session, col

from fabcoord.ledger.models import Item, MoveReason
from fabcoord.reports.arrivals import Tally, arrivals, document_ids
from fabcoord.reports.providers import Rows, Scope
from suppliers.models import PurchaseOrder, PurchaseState, Supplier

DOC_TYPE = "purchase_order"  # suppliers.purchasing.DOC_TYPE, without importing the service
UNORDERED = "(hors commande)"
_NOT_PLACED = (PurchaseState.DRAFT, PurchaseState.CANCELLED)


def figures(*, session: Session, scope: Scope) -> Mapping[str, Rows]:
    tally = Tally("supplier")
    placed = (
        select(
            col(Supplier.name),
            col(PurchaseOrder.item_code),
            cast(col(Item.unit), String),
            col(PurchaseOrder.quantity),
        )
        .join(Supplier, col(Supplier.id) == PurchaseOrder.supplier_id)
        .join(Item, col(Item.code) == PurchaseOrder.item_code)
        .where(
            col(PurchaseOrder.created_at) >= scope.start,
            col(PurchaseOrder.created_at) < scope.end,
            col(PurchaseOrder.state).not_in(_NOT_PLACED),
        )
    )
    if scope.fablab_ids is not None:
        placed = placed.where(col(PurchaseOrder.fablab_id).in_(sorted(scope.fablab_ids)))
    for name, item, unit, quantity in session.execute(placed).all():
        tally.row(name, item, unit)["ordered"] += int(quantity)
    came = arrivals(session=session, cause=MoveReason.RECEIPT, start=scope.start, end=scope.end,
                    fablab_ids=scope.fablab_ids)  # fmt: skip
    ordered_ids = document_ids(came, DOC_TYPE)
    supplier_of = dict(
        session.execute(
            select(col(PurchaseOrder.id), col(Supplier.name))
            .join(Supplier, col(Supplier.id) == PurchaseOrder.supplier_id)
            .where(col(PurchaseOrder.id).in_(ordered_ids))
        ).all()
    )
    for arrival in came:
        name = UNORDERED
        if arrival.doc_type == DOC_TYPE and arrival.doc_id.isdigit():
            name = supplier_of.get(int(arrival.doc_id), UNORDERED)
        tally.row(name, arrival.item, arrival.unit)["received"] += arrival.qty
    found = tally.found()
    return {
        "suppliers": sorted(found, key=lambda r: (r["name"] == UNORDERED, r["name"], r["item"]))
    }
