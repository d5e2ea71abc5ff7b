"""The web layer's texts and rules that need no web framework: French labels, the responses the
API documents, and turning posted form fields into an order."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any

from orders import schemas
from orders.schemas import PARIS, ErrorBody, OrderCreate, OrderPublic

STATUS_FR = {
    "received": "reçue",
    "accepted": "acceptée",
    "rejected": "refusée",
    "planned": "planifiée",
    "in_production": "en production",
    "shipped": "expédiée",
    "delivered": "livrée",
    "cancelled": "annulée",
}
PRIORITY_FR = {"normal": "Normale", "urgent": "Urgente", "critical": "Vitale"}
ITEM_FR = {"visor": "Visière de protection, adulte"}
FORM_TOKEN = re.compile(r"^[A-Za-z0-9-]{16,64}$")
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in (
        (401, "jeton absent, invalide ou révoqué"),
        (404, "commande introuvable"),
        (409, "clé d'idempotence déjà utilisée pour une autre commande"),
        (413, "corps de requête trop volumineux"),
        (422, "données invalides (détail par champ dans errors)"),
        (429, "trop de requêtes (voir Retry-After)"),
    )
}
NOT_FOUND = "Ce lien n'est pas valide."
ROWS = 3
"""Order lines the form offers: the first is ``item``/``quantity``, the next ``item_2``…"""


def offered_rows(models: Collection[str], values: Mapping[str, object] | None = None) -> int:
    """How many lines the form shows: one per model the catalogue offers (one line per model, so
    a second line is of no use with a single model), up to :data:`ROWS`, and every line
    ``values`` filled in (so an error beside it is seen)."""
    filled = [
        row
        for row in range(2, ROWS + 1)
        if any(str((values or {}).get(name, "")).strip() for name in row_names(row))
    ]
    return max(1, min(ROWS, len(models)), *filled)


def row_names(row: int) -> tuple[str, str]:
    """The form fields of line ``row`` (from 1): its model and its quantity."""
    return ("item", "quantity") if row == 1 else (f"item_{row}", f"quantity_{row}")


FIELD_FR = {  # in the form's order: the first invalid one gets the focus
    "department": "Service demandeur",
    "contact_name": "Nom du contact",
    "contact_phone": "Téléphone",
    "contact_email": "E-mail",
    "item": "Modèle",
    "quantity": "Nombre de visières",
    **{
        name: f"{label} (ligne {row})"
        for row in range(2, ROWS + 1)
        for name, label in zip(row_names(row), ("Modèle", "Nombre de visières"), strict=True)
    },
    "needed_by": "Date de besoin",
    "site": "Site de livraison",
    "delivery_address": "Adresse de livraison",
    "purchase_order": "N° de bon de commande",
    "priority": "Priorité",
    "urgency_reason": "Motif de l'urgence",
    "notes": "Remarques",
}


def paris_time(moment: datetime) -> str:
    """A stored (UTC) time as people in France read it: ``07/12/2026 08:15``."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(PARIS).strftime("%d/%m/%Y %H:%M")


def line_rows(values: dict[str, str]) -> list[int]:
    """The form's lines that make the order's ``lines`` (rows with a quantity), or ``[]`` when
    only the first is used (an order of one model: ``item`` and ``quantity``)."""
    extra = [n for n in range(2, ROWS + 1) if values.get(row_names(n)[1], "").strip()]
    if not extra:
        return []
    return [1, *extra] if values.get("quantity", "").strip() else extra


def row_errors(errors: dict[str, str], values: dict[str, str]) -> dict[str, str]:
    """Errors about ``lines.N.field`` put beside the form field of that line."""
    rows = line_rows(values)
    placed: dict[str, str] = {}
    for name, message in errors.items():
        parts = name.split(".")
        if len(parts) == 3 and parts[0] == "lines" and parts[1].isdigit() and rows:
            index = int(parts[1])
            if index < len(rows):
                item, count = row_names(rows[index])
                name = item if parts[2] == "item" else count
        placed.setdefault(name, message)
    return placed


def cross_field_errors(values: dict[str, str]) -> dict[str, str]:
    """The rules between fields, on the raw form values (shown with the single-field errors)."""
    rows = line_rows(values)
    has_lines = bool(rows)
    return schemas.cross_field_errors(
        priority=values.get("priority", "normal"),
        urgency_reason=values.get("urgency_reason", ""),
        has_lines=has_lines,
        quantity=None if has_lines else values.get("quantity", "").strip() or None,
        site=values.get("site", "").strip() or None,
        delivery_address=values.get("delivery_address", ""),
        items=[_line(values, row)["item"] for row in rows],
    )


REPLAY: dict[int | str, dict[str, Any]] = {
    200: {"model": OrderPublic, "description": "rejeu : la commande d'origine"}
}


_GROUPING = str.maketrans("", "", " \u00a0\u202f\u2009")


def quantity(text: str) -> int | None:
    """A whole number as people write it ("2000", "2 000", "2\u202f000", "2.000"), else None."""
    digits = text.strip().translate(_GROUPING)
    return int(digits) if re.fullmatch(r"[0-9]{1,12}", digits) else None


def form_date(text: str) -> str:
    """A date as posted: ISO from a date picker, or ``jj/mm/aaaa`` typed by hand where the
    browser shows none (made ISO); anything else is left for validation to refuse."""
    text = text.strip()
    written = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", text)
    if written:
        day, month, year = written.groups()
        return f"{year}-{int(month):02d}-{int(day):02d}"
    return text


def _line(values: dict[str, str], row: int) -> dict[str, Any]:
    item, count = row_names(row)
    raw = values.get(count, "").strip()
    number = quantity(raw)
    return {
        "item": values.get(item, "").strip() or "visor",
        "quantity": raw if number is None else number,
    }


def form_data(values: dict[str, str]) -> dict[str, Any]:
    """The order fields of a submitted form; quantities written as whole numbers (with spaces or
    narrow no-break spaces between thousands) become numbers."""
    names = OrderCreate.model_fields
    data: dict[str, Any] = {
        k: v for k, v in values.items() if k in names and k != "lines" and v.strip() != ""
    }
    data.setdefault("item", "visor")
    if "needed_by" in data:
        data["needed_by"] = form_date(data["needed_by"])
    rows = line_rows(values)
    if rows:
        data.pop("item", None)
        data.pop("quantity", None)
        data["lines"] = [_line(values, row) for row in rows]
    raw = data.get("quantity")
    if isinstance(raw, str) and (number := quantity(raw)) is not None:
        data["quantity"] = number
    for optional in ("urgency_reason", "notes"):
        data.setdefault(optional, "")
    return data
