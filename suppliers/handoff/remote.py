"""The sale-order operations a hand-off performs in a partner's Odoo, adapted to its version.

Field names that differ between Odoo versions are learnt from the server (``fields_get``, once per
connection and model), never guessed: how a storable product is declared (``type``,
``detailed_type`` or ``is_storable``), the done quantity of a stock move (``quantity_done`` or
``quantity``), whether the order has a ``commitment_date``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from suppliers.handoff.errors import PartnerRefused, PartnerUnavailable

if TYPE_CHECKING:  # the Odoo client is imported by whoever connects, not by readers of these types
    from suppliers.handoff.odoo import Client

OPEN_ORDER_STATES = ("draft", "sent")


@dataclass(frozen=True)
class OrderSpec:
    """What we ask the partner for."""

    ref: str  # our hand-off reference, stored as the order's client_order_ref
    customer: str  # our organisation, as the partner's customer
    product_code: str
    product_name: str
    quantity: int
    needed_by: date


@dataclass(frozen=True)
class RemoteOrder:
    id: int
    name: str
    state: str
    ref: str = ""


@dataclass(frozen=True)
class Delivery:
    """One picking of an order: its state and the units its done moves delivered."""

    id: int
    name: str
    state: str
    done: int
    order_id: int
    backorder_of: int | None = None


class PartnerApi:
    """Sale-order operations over one :class:`Client` (caches what it learns per connection)."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self._fields: dict[str, dict[str, Any]] = {}
        self._customers: dict[str, int] = {}
        self._products: dict[str, int] = {}

    def fields(self, model: str) -> dict[str, Any]:
        if model not in self._fields:
            self._fields[model] = self.client.call(
                model, "fields_get", [], {"attributes": ["type", "selection", "required"]}
            )
        return self._fields[model]

    def find_order(self, ref: str) -> RemoteOrder | None:
        rows = self.client.call(
            "sale.order",
            "search_read",
            [[("client_order_ref", "=", ref)]],
            {"fields": ["name", "state", "client_order_ref"]},
        )
        if not rows:
            return None
        row = rows[0] if isinstance(rows, list) else rows
        return RemoteOrder(int(row["id"]), str(row["name"]), str(row["state"]), ref)

    def place(self, spec: OrderSpec, *, create_before: float | None = None) -> RemoteOrder:
        """Find the order by our reference or create it, and confirm it; safe to repeat.

        A reply lost after ``create`` leaves an order we did not hear of: the next attempt finds it
        here by ``client_order_ref`` instead of creating a second one.

        Args:
            create_before: a ``time.monotonic()`` instant after which ``create`` is not sent (the
                caller's lease could run out while it waits, and another worker could then
                search, find nothing and create a second order); the job is retried later.
        """
        found = self.find_order(spec.ref)
        if found is not None:
            if found.state in OPEN_ORDER_STATES:
                self.confirm(found.id)
                return RemoteOrder(found.id, found.name, "sale", spec.ref)
            return found
        values: dict[str, Any] = {
            "partner_id": self.customer(spec.customer),
            "client_order_ref": spec.ref,
            "order_line": [
                (
                    0,
                    0,
                    {
                        "product_id": self.product(spec.product_code, spec.product_name),
                        "product_uom_qty": spec.quantity,
                    },
                )
            ],
        }
        if create_before is not None and time.monotonic() > create_before:
            raise PartnerUnavailable(
                f"partner too slow: our claim on hand-off {spec.ref} ran short before the order "
                "was created; it is retried"
            )
        order_id = int(self.client.call("sale.order", "create", [values]))
        self.confirm(order_id)
        return RemoteOrder(order_id, "", "sale", spec.ref)

    def confirm(self, order_id: int) -> None:
        self.client.call("sale.order", "action_confirm", [[order_id]])

    def customer(self, name: str) -> int:
        """Our organisation as the partner's customer (found by name, else created)."""
        if name not in self._customers:
            ids = self.client.call("res.partner", "search", [[("name", "=", name)]], {"limit": 1})
            if ids:
                self._customers[name] = int(ids[0])
            else:
                values = {"name": name, "is_company": True, "customer_rank": 1}
                self._customers[name] = int(self.client.call("res.partner", "create", [values]))
        return self._customers[name]

    def product(self, code: str, name: str) -> int:
        """The product whose ``default_code`` is our item code (created storable if missing)."""
        if code not in self._products:
            ids = self.client.call(
                "product.product", "search", [[("default_code", "=", code)]], {"limit": 1}
            )
            if ids:
                self._products[code] = int(ids[0])
            else:
                values = {"name": name, "default_code": code, **self.storable()}
                self._products[code] = int(self.client.call("product.product", "create", [values]))
        return self._products[code]

    def storable(self) -> dict[str, Any]:
        """How this version declares a stocked good."""
        fields = self.fields("product.product")
        if "is_storable" in fields:  # 18+
            return {"type": "consu", "is_storable": True}
        for name in ("detailed_type", "type"):  # 15-17, then 14 and earlier
            choices = [c[0] for c in fields.get(name, {}).get("selection", [])]
            if "product" in choices:
                return {name: "product"}
        return {"type": "consu"}

    def done_field(self) -> str:
        """The stock move field holding the delivered quantity in this version."""
        fields = self.fields("stock.move")
        return "quantity_done" if "quantity_done" in fields else "quantity"

    def read_orders(self, ids: list[int]) -> dict[int, RemoteOrder]:
        if not ids:
            return {}
        rows = self.client.call(
            "sale.order", "read", [ids], {"fields": ["name", "state", "client_order_ref"]}
        )
        rows = [rows] if isinstance(rows, dict) else rows
        return {
            int(r["id"]): RemoteOrder(
                int(r["id"]), str(r["name"]), str(r["state"]), str(r["client_order_ref"] or "")
            )
            for r in rows
        }

    def deliveries(self, order_ids: list[int]) -> dict[int, list[Delivery]]:
        """Every delivery to the customer of these orders (backorders included), units delivered.

        Only outgoing pickings count: with two- or three-step routes the pick and pack steps are
        internal pickings of the same sale order, and a return is an incoming one.
        """
        result: dict[int, list[Delivery]] = {order_id: [] for order_id in order_ids}
        if not order_ids:
            return result
        pickings = _rows(
            self.client.call(
                "stock.picking",
                "search_read",
                [[("sale_id", "in", order_ids), ("picking_type_code", "=", "outgoing")]],
                {"fields": ["name", "state", "sale_id", "backorder_id"]},
            )
        )
        if not pickings:
            return result
        done_field = self.done_field()
        moves = _rows(
            self.client.call(
                "stock.move",
                "search_read",
                [[("picking_id", "in", [p["id"] for p in pickings])]],
                {"fields": ["picking_id", "state", done_field]},
            )
        )
        done: dict[int, float] = {}
        for move in moves:
            if move["state"] == "done":
                picking_id = _many2one(move["picking_id"])
                done[picking_id] = done.get(picking_id, 0.0) + float(move[done_field] or 0)
        for picking in pickings:
            order_id = _many2one(picking["sale_id"])
            backorder = picking.get("backorder_id")
            result.setdefault(order_id, []).append(
                Delivery(
                    id=int(picking["id"]),
                    name=str(picking["name"]),
                    state=str(picking["state"]),
                    done=round(done.get(int(picking["id"]), 0.0)),
                    order_id=order_id,
                    backorder_of=_many2one(backorder) if backorder else None,
                )
            )
        return result

    def cancel(self, order_id: int) -> None:
        """Cancel the order; the context skips the wizard a confirmed order would otherwise open.

        Raises:
            PartnerRefused: the partner answered with a wizard (or anything but done).
        """
        result = self.client.call(
            "sale.order",
            "action_cancel",
            [[order_id]],
            {"context": {"disable_cancel_warning": True}},
        )
        if isinstance(result, dict):
            raise PartnerRefused(
                f"partner {self.client.endpoint.name} answered the cancellation of order "
                f"{order_id} with a {result.get('res_model', 'wizard')} form: cancel it in Odoo"
            )


def _rows(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        return [value]
    return list(value or [])


def _many2one(value: Any) -> int:
    return int(value[0] if isinstance(value, list | tuple) else value)
