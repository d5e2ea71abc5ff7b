"""The hospital's amend page without the web framework: the form's values for an order, and
the change (:class:`OrderAmend`) a submitted form asks for, with errors named by form field."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from orders.errors import InvalidOrder
from orders.forms import ROWS, STATUS_FR, form_date, quantity, row_names
from orders.schemas import OrderAmend, OrderPublic, field_errors, repeated_models

NOTHING = "Rien n'a changé : modifiez les lignes, la date ou le site, ou revenez à la commande."


def too_late(order: OrderPublic) -> str:
    """Why an order that is no longer ``received`` cannot be amended."""
    return (
        f"La commande {order.reference} est déjà {STATUS_FR[order.status.value]} : elle ne peut "
        "plus être modifiée (seulement tant qu'elle est reçue, avant acceptation)."
    )


def rows_for(order: OrderPublic) -> int:
    """How many lines the page offers: the form's, or the order's when it has more."""
    return max(ROWS, len(order.lines))


def fields(rows: int) -> list[str]:
    """The page's fields in their order (the first invalid one gets the focus)."""
    return [
        *(name for row in range(1, rows + 1) for name in row_names(row)),
        "needed_by",
        "site",
        "reason",
    ]


def initial(order: OrderPublic) -> dict[str, str]:
    """The page's fields filled with the order as it stands."""
    values = {
        "needed_by": order.needed_by.isoformat(),
        "site": str(order.site.id) if order.site is not None else "",
    }
    for row, line in enumerate(order.lines, start=1):
        item, count = row_names(row)
        values[item], values[count] = line.item, str(line.quantity)
    return values


def change(values: dict[str, str], order: OrderPublic) -> OrderAmend:
    """What the submitted page changes (only what differs from the order).

    Raises:
        InvalidOrder: errors keyed by form field (``quantity_2``, ``needed_by``…), or ``form``
            when nothing changed.
    """
    rows = [n for n in range(1, rows_for(order) + 1) if values.get(row_names(n)[1], "").strip()]
    data: dict[str, Any] = {"reason": values.get("reason", "")}
    problems: dict[str, str] = {}
    lines = []
    for row in rows:
        item, count = row_names(row)
        raw = values.get(count, "").strip()
        number = quantity(raw)
        lines.append(
            {"item": values.get(item, "").strip(), "quantity": raw if number is None else number}
        )
    if not lines:
        problems["quantity"] = "Indiquez au moins une ligne (modèle et quantité)."
    elif [(x["item"], x["quantity"]) for x in lines] != [(x.item, x.quantity) for x in order.lines]:
        data["lines"] = lines
        problems |= repeated_models([str(x["item"]) for x in lines])
    when = form_date(values.get("needed_by", ""))
    if when != order.needed_by.isoformat():
        data["needed_by"] = when or None
        if not when:
            problems["needed_by"] = "Champ obligatoire."
    site = values.get("site", "").strip()
    if site and (order.site is None or site != str(order.site.id)):
        data["site"] = site
    try:
        amended = OrderAmend.model_validate(data)
    except ValidationError as error:
        problems = field_errors(error) | problems
        amended = None
    placed = {_field(name, rows): message for name, message in problems.items()}
    if not placed and amended is not None and not amended.model_fields_set - {"reason"}:
        placed["form"] = NOTHING
    if placed or amended is None:
        raise InvalidOrder(placed)
    return amended


def placed_errors(
    errors: dict[str, str], values: dict[str, str], order: OrderPublic
) -> dict[str, str]:
    """The service's errors (``lines.N.item``) beside the page's fields."""
    rows = [n for n in range(1, rows_for(order) + 1) if values.get(row_names(n)[1], "").strip()]
    return {_field(name, rows): message for name, message in errors.items()}


def _field(name: str, rows: list[int]) -> str:
    parts = name.split(".")
    if len(parts) == 3 and parts[0] == "lines" and parts[1].isdigit() and int(parts[1]) < len(rows):
        item, count = row_names(rows[int(parts[1])])
        return item if parts[2] == "item" else count
    return "quantity" if name == "lines" else name
