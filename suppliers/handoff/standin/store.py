"""The stand-in's database: the few Odoo models a hand-off touches, with per-version fields.

Behaviour copied from Odoo (see ``shared/docs/odoo.md``): unknown fields are refused with Odoo's
``Invalid field`` error, required fields with its mandatory-field message, ``action_cancel`` on a
confirmed order (15+) answers the cancel wizard unless the context carries
``disable_cancel_warning``, and validating a partial delivery leaves the picking done and opens a
backorder picking for the rest.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class OdooError(Exception):
    """An error Odoo would raise; ``kind`` is its exception class name."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


USER_ERROR = "odoo.exceptions.UserError"
VALIDATION_ERROR = "odoo.exceptions.ValidationError"
ACCESS_ERROR = "odoo.exceptions.AccessError"
ACCESS_DENIED = "odoo.exceptions.AccessDenied"
MISSING_ERROR = "odoo.exceptions.MissingError"
VALUE_ERROR = "builtins.ValueError"

_LABELS = {"sale.order": "Sales Order", "res.partner": "Contact", "product.product": "Product"}


def fields_for(version: int) -> dict[str, dict[str, dict[str, Any]]]:
    """The fields of each model in that Odoo major version (type, required, selection)."""

    def f(kind: str, required: bool = False, selection: list[str] | None = None) -> dict[str, Any]:
        spec: dict[str, Any] = {"type": kind, "required": required, "string": ""}
        if selection is not None:
            spec["selection"] = [[value, value.title()] for value in selection]
        return spec

    order_states = ["draft", "sent", "sale", "cancel"] + (["done"] if version < 17 else [])
    product = {"name": f("char", True), "default_code": f("char")}
    if version <= 14:
        product["type"] = f("selection", selection=["consu", "service", "product"])
    elif version <= 17:
        product["type"] = f("selection", selection=["consu", "service", "product"])
        product["detailed_type"] = f("selection", selection=["consu", "service", "product"])
    else:
        product["type"] = f("selection", selection=["consu", "service", "combo"])
        product["is_storable"] = f("boolean")
    line = {
        "order_id": f("many2one", True),
        "product_id": f("many2one", True),
        "product_uom_qty": f("float"),
        "name": f("text"),
        "price_unit": f("float"),
        ("product_uom_id" if version >= 19 else "product_uom"): f("many2one"),
        ("tax_ids" if version >= 19 else "tax_id"): f("many2many"),
    }
    order = {
        "name": f("char"),
        "partner_id": f("many2one", True),
        "client_order_ref": f("char"),
        "state": f("selection", selection=order_states),
        "order_line": f("one2many"),
        "picking_ids": f("one2many"),
        "delivery_count": f("integer"),
        "note": f("html" if version >= 16 else "text"),
        "commitment_date": f("datetime"),
    }
    if version >= 17:
        order["locked"] = f("boolean")
    move = {
        "picking_id": f("many2one"),
        "product_id": f("many2one", True),
        "product_uom_qty": f("float"),
        "state": f("selection", selection=["draft", "confirmed", "assigned", "done", "cancel"]),
        ("quantity" if version >= 17 else "quantity_done"): f("float"),
    }
    if version >= 17:
        move["picked"] = f("boolean")
    picking = {
        "name": f("char"),
        "state": f(
            "selection",
            selection=["draft", "waiting", "confirmed", "assigned", "done", "cancel"],
        ),
        "origin": f("char"),
        "sale_id": f("many2one"),
        "backorder_id": f("many2one"),
        "picking_type_code": f("selection"),
        ("move_ids" if version >= 17 else "move_lines"): f("one2many"),
    }
    partner = {
        "name": f("char", True),
        "ref": f("char"),
        "email": f("char"),
        "is_company": f("boolean"),
        "customer_rank": f("integer"),
        "supplier_rank": f("integer"),
    }
    model = {"model": f("char", True), "name": f("char")}
    return {
        "res.partner": partner,
        "product.product": product,
        "sale.order": order,
        "sale.order.line": line,
        "stock.picking": picking,
        "stock.move": move,
        "ir.model": model,
        "res.users": {"login": f("char", True), "name": f("char")},
    }


@dataclass
class Store:
    """One Odoo database held in memory. All methods are thread-safe."""

    version: int = 17
    database: str = "partner"
    login: str = "admin"
    api_key: str = "secret"
    uid: int = 2
    tables: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    lock: threading.RLock = field(default_factory=threading.RLock)

    def __post_init__(self) -> None:
        self.fields = fields_for(self.version)
        self.tables = {model: {} for model in self.fields}
        for name in self.fields:
            self._insert("ir.model", {"model": name, "name": name})
        self._insert("res.users", {"login": self.login, "name": "Administrator"})

    # -- generic ORM ----------------------------------------------------------------------------

    def _insert(self, model: str, values: dict[str, Any]) -> int:
        record_id = next(self._ids)
        self.tables[model][record_id] = {"id": record_id, **values}
        return record_id

    def _table(self, model: str) -> dict[int, dict[str, Any]]:
        if model not in self.tables:
            raise OdooError(USER_ERROR, f"Object {model} doesn't exist")
        return self.tables[model]

    def _check_fields(self, model: str, names: list[str]) -> None:
        known = self.fields[model]
        for name in names:
            if name not in known and name != "id":
                raise OdooError(VALUE_ERROR, f"Invalid field {name!r} on model {model!r}")

    def search(
        self,
        model: str,
        domain: list[Any],
        offset: int = 0,
        limit: int | bool = False,
        order: str | bool = False,
    ) -> list[int]:
        with self.lock:
            table = self._table(model)
            self._check_fields(model, [t[0] for t in domain if not isinstance(t, str)])
            rows = [row for row in table.values() if self._match(model, row, domain)]
            ids = [row["id"] for row in rows][int(offset or 0) :]
            return ids[: int(limit)] if limit else ids

    def _match(self, model: str, row: dict[str, Any], domain: list[Any]) -> bool:
        for term in domain:
            if isinstance(term, str):
                continue  # '&' is implicit; '|' is not used by the hand-off
            name, op, value = term
            have = row.get(name, False)
            if isinstance(have, list) and have and isinstance(have[0], int) and op == "=":
                have = have[0]
            ops: dict[str, Callable[[Any, Any], bool]] = {
                "=": lambda a, b: a == b,
                "!=": lambda a, b: a != b,
                "in": lambda a, b: a in b,
                "not in": lambda a, b: a not in b,
                "ilike": lambda a, b: str(b).lower() in str(a or "").lower(),
            }
            ok = ops.get(op)
            if ok is None:
                raise OdooError(VALUE_ERROR, f"Invalid leaf {term!r}")
            if not ok(have, value):
                return False
        return True

    def read(self, model: str, ids: list[int] | int, fields: list[str] | None = None) -> list[Any]:
        with self.lock:
            table = self._table(model)
            wanted = [ids] if isinstance(ids, int) else list(ids)
            names = list(fields or self.fields[model])
            self._check_fields(model, names)
            rows = []
            for record_id in wanted:
                if record_id in table:
                    row = table[record_id]
                    rows.append({"id": record_id, **{n: self._value(model, row, n) for n in names}})
            return rows

    def _value(self, model: str, row: dict[str, Any], name: str) -> Any:
        value = row.get(name, False)
        kind = self.fields[model].get(name, {}).get("type")
        if kind == "one2many" or kind == "many2many":
            return list(value or [])
        if kind == "many2one" and value:
            target = {
                "partner_id": "res.partner",
                "product_id": "product.product",
                "order_id": "sale.order",
                "sale_id": "sale.order",
                "picking_id": "stock.picking",
                "backorder_id": "stock.picking",
            }.get(name)
            label = self.tables[target][value].get("name", "") if target else ""
            return [value, label]
        if kind in ("float", "integer") and value is False:
            return 0
        return value

    def fields_get(self, model: str, attributes: list[str] | None = None) -> dict[str, Any]:
        table = self.fields.get(model)
        if table is None:
            raise OdooError(USER_ERROR, f"Object {model} doesn't exist")
        keep = attributes or ["type", "required", "selection", "string"]
        return {
            name: {key: spec[key] for key in keep if key in spec} for name, spec in table.items()
        }

    def create(self, model: str, values: dict[str, Any] | list[dict[str, Any]]) -> Any:
        if isinstance(values, list):
            return [self.create(model, one) for one in values]
        with self.lock:
            self._table(model)
            self._check_fields(model, list(values))
            for name, spec in self.fields[model].items():
                if spec["required"] and not values.get(name) and name != "order_id":
                    label = _LABELS.get(model, model)
                    raise OdooError(
                        VALIDATION_ERROR,
                        "The operation cannot be completed:\n- Create/update: a mandatory field "
                        f"is not set.\n- Delete: another model requires the record being deleted."
                        f" If possible, archive it instead.\n\nModel: {label} ({model})\n"
                        f"Field: {name} ({name})\n",
                    )
            if model == "sale.order":
                return self._create_order(values)
            clean = {k: v for k, v in values.items() if self.fields[model][k]["type"] != "one2many"}
            return self._insert(model, clean)

    def _create_order(self, values: dict[str, Any]) -> int:
        lines = values.get("order_line") or []
        header = {k: v for k, v in values.items() if k != "order_line"}
        order_id = self._insert(
            "sale.order", {**header, "state": "draft", "order_line": [], "picking_ids": []}
        )
        order = self.tables["sale.order"][order_id]
        order["name"] = f"S{order_id:05d}"
        for command in lines:
            if not (isinstance(command, list | tuple) and len(command) == 3 and command[0] == 0):
                raise OdooError(VALUE_ERROR, f"Invalid one2many command {command!r}")
            vals = dict(command[2])
            self._check_fields("sale.order.line", list(vals))
            if not vals.get("product_id"):
                raise OdooError(
                    VALIDATION_ERROR, "Field: Product (product_id) is required on sale.order.line"
                )
            line_id = self._insert("sale.order.line", {**vals, "order_id": order_id})
            order["order_line"].append(line_id)
        return order_id

    def write(self, model: str, ids: list[int], values: dict[str, Any]) -> bool:
        with self.lock:
            self._check_fields(model, list(values))
            for record_id in ids:
                self._table(model)[record_id].update(values)
            return True

    # -- sale and stock behaviour ---------------------------------------------------------------

    def _order(self, record_id: int) -> dict[str, Any]:
        order = self.tables["sale.order"].get(record_id)
        if order is None:
            raise OdooError(MISSING_ERROR, "Record does not exist or has been deleted.")
        return order

    def action_confirm(self, ids: list[int]) -> bool:
        with self.lock:
            for record_id in ids:
                order = self._order(record_id)
                if order["state"] not in ("draft", "sent"):
                    raise OdooError(
                        USER_ERROR,
                        "Some orders are not in a state requiring confirmation.",
                    )
                order["state"] = "sale"
                moves = [
                    (line["product_id"], float(line.get("product_uom_qty") or 0))
                    for line in (self.tables["sale.order.line"][i] for i in order["order_line"])
                ]
                self._new_picking(order, moves, backorder_of=False)
            return True

    def internal_step(self, order_ref: str, quantity: float) -> int:
        """A done internal picking (the pick step of a two-step route) for an order's goods."""
        with self.lock:
            found = [
                o
                for o in self.tables["sale.order"].values()
                if o.get("client_order_ref") == order_ref
            ]
            if not found:
                raise OdooError(MISSING_ERROR, f"no order {order_ref}")
            order = found[0]
            line = self.tables["sale.order.line"][order["order_line"][0]]
            picking_id = self._new_picking(order, [(line["product_id"], quantity)], False)
            picking = self.tables["stock.picking"][picking_id]
            picking["picking_type_code"] = "internal"
            picking["name"] = f"WH/PICK/{picking_id:05d}"
            picking["state"] = "done"
            move_field = "move_ids" if self.version >= 17 else "move_lines"
            done_field = "quantity" if self.version >= 17 else "quantity_done"
            for move_id in picking[move_field]:
                move = self.tables["stock.move"][move_id]
                move["state"], move[done_field] = "done", quantity
            return picking_id

    def _new_picking(
        self, order: dict[str, Any], moves: list[tuple[int, float]], backorder_of: int | bool
    ) -> int:
        move_field = "move_ids" if self.version >= 17 else "move_lines"
        picking_id = self._insert(
            "stock.picking",
            {
                "state": "assigned",
                "origin": order["name"],
                "sale_id": order["id"],
                "backorder_id": backorder_of,
                "picking_type_code": "outgoing",
                move_field: [],
            },
        )
        picking = self.tables["stock.picking"][picking_id]
        picking["name"] = f"WH/OUT/{picking_id:05d}"
        done_field = "quantity" if self.version >= 17 else "quantity_done"
        for product_id, qty in moves:
            move_id = self._insert(
                "stock.move",
                {
                    "picking_id": picking_id,
                    "product_id": product_id,
                    "product_uom_qty": qty,
                    "state": "assigned",
                    done_field: 0.0,
                },
            )
            picking[move_field].append(move_id)
        order["picking_ids"].append(picking_id)
        order["delivery_count"] = len(order["picking_ids"])
        return picking_id

    def action_cancel(self, ids: list[int], context: dict[str, Any]) -> Any:
        with self.lock:
            for record_id in ids:
                order = self._order(record_id)
                if (
                    self.version >= 15
                    and order["state"] == "sale"
                    and not context.get("disable_cancel_warning")
                ):
                    return {
                        "type": "ir.actions.act_window",
                        "res_model": "sale.order.cancel",
                        "view_mode": "form",
                        "target": "new",
                        "context": {"default_order_id": record_id},
                    }
            for record_id in ids:
                order = self._order(record_id)
                order["state"] = "cancel"
                for picking_id in order["picking_ids"]:
                    picking = self.tables["stock.picking"][picking_id]
                    if picking["state"] != "done":
                        picking["state"] = "cancel"
            return True

    def deliver(self, order_ref: str, quantity: float, backorder: bool = True) -> dict[str, Any]:
        """Validate the open delivery of an order for ``quantity`` (what a partner's warehouse does).

        Less than the rest with ``backorder``: the picking is done and a backorder opens.
        """
        with self.lock:
            found = [
                o
                for o in self.tables["sale.order"].values()
                if o.get("client_order_ref") == order_ref
            ]
            if not found:
                raise OdooError(MISSING_ERROR, f"no order {order_ref}")
            order = found[0]
            open_pickings = [
                self.tables["stock.picking"][p]
                for p in order["picking_ids"]
                if self.tables["stock.picking"][p]["state"] == "assigned"
            ]
            if not open_pickings:
                raise OdooError(USER_ERROR, f"order {order_ref} has no open delivery")
            picking = open_pickings[0]
            move_field = "move_ids" if self.version >= 17 else "move_lines"
            done_field = "quantity" if self.version >= 17 else "quantity_done"
            rest: list[tuple[int, float]] = []
            remaining = quantity
            for move_id in picking[move_field]:
                move = self.tables["stock.move"][move_id]
                planned = float(move["product_uom_qty"])
                done = min(planned, remaining)
                remaining -= done
                move[done_field] = done
                move["state"] = "done"
                if self.version >= 17:
                    move["picked"] = True
                if done < planned:
                    move["product_uom_qty"] = done
                    rest.append((move["product_id"], planned - done))
            picking["state"] = "done"
            backorder_id = None
            if rest and backorder:
                backorder_id = self._new_picking(order, rest, backorder_of=picking["id"])
            return {"picking": picking["id"], "backorder": backorder_id}

    def orders_by_ref(self) -> dict[str, int]:
        with self.lock:
            counts: dict[str, int] = {}
            for order in self.tables["sale.order"].values():
                ref = str(order.get("client_order_ref") or "")
                counts[ref] = counts.get(ref, 0) + 1
            return counts

    def call(self, model: str, method: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        """Dispatch an ``execute_kw`` call as Odoo's ``call_kw`` would."""
        context = dict(kwargs.get("context") or {})
        if model not in self.tables:
            raise OdooError(USER_ERROR, f"Object {model} doesn't exist")
        if method == "search":
            names = ("domain", "offset", "limit", "order")
            return self.search(model, *_params(names, args, kwargs, required=1))
        if method == "search_count":
            return len(self.search(model, *_params(("domain",), args, kwargs, required=1)))
        if method == "read":
            ids, fields = _params(("ids", "fields"), args, kwargs, required=1)
            return self.read(model, ids, fields)
        if method == "search_read":
            domain, fields, offset, limit, order = _params(
                ("domain", "fields", "offset", "limit", "order"), args, kwargs, required=0
            )
            ids = self.search(model, domain or [], offset or 0, limit or False, order)
            return self.read(model, ids, fields)
        if method == "fields_get":
            _all, attributes = _params(("allfields", "attributes"), args, kwargs, required=0)
            return self.fields_get(model, attributes)
        if method == "create":
            (values,) = _params(("vals_list",), args, kwargs, required=1, alias={"vals": 0})
            return self.create(model, values)
        if method == "write":
            ids, values = _params(("ids", "vals"), args, kwargs, required=2)
            return self.write(model, ids, values)
        if method == "context_get" and model == "res.users":
            return {"lang": "en_US", "tz": "Europe/Paris", "uid": self.uid}
        if method == "action_confirm" and model == "sale.order":
            (ids,) = _params(("ids",), args, kwargs, required=1)
            return self.action_confirm(ids)
        if method == "action_cancel" and model == "sale.order":
            (ids,) = _params(("ids",), args, kwargs, required=1)
            return self.action_cancel(ids, context)
        raise OdooError(VALUE_ERROR, f"The method '{method}' does not exist on the model '{model}'")


def _params(
    names: tuple[str, ...],
    args: list[Any],
    kwargs: dict[str, Any],
    *,
    required: int,
    alias: dict[str, int] | None = None,
) -> list[Any]:
    values: list[Any] = [None] * len(names)
    for index, value in enumerate(args[: len(names)]):
        values[index] = value
    for key, value in kwargs.items():
        if key in names:
            values[names.index(key)] = value
        elif alias and key in alias:
            values[alias[key]] = value
    for index in range(required):
        if values[index] is None:
            raise OdooError(
                "builtins.TypeError", f"missing required positional argument: {names[index]!r}"
            )
    return values
