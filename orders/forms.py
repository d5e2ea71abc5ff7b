"""The web layer's texts and rules that need no web framework: French labels, the responses the
API documents, and turning posted form fields into an order."""

from __future__ import annotations

import re
from typing import Any

from orders.schemas import ErrorBody, OrderCreate, OrderPublic

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
REPLAY: dict[int | str, dict[str, Any]] = {
    200: {"model": OrderPublic, "description": "rejeu : la commande d'origine"}
}


_GROUPING = str.maketrans("", "", " \u00a0\u202f\u2009")


def quantity(text: str) -> int | None:
    """A whole number as people write it ("2000", "2 000", "2\u202f000", "2.000"), else None."""
    digits = text.strip().translate(_GROUPING)
    return int(digits) if re.fullmatch(r"[0-9]{1,12}", digits) else None


def form_data(values: dict[str, str]) -> dict[str, Any]:
    """The order fields of a submitted form; quantities written as whole numbers (with spaces or
    narrow no-break spaces between thousands) become numbers."""
    names = OrderCreate.model_fields
    data: dict[str, Any] = {
        k: v for k, v in values.items() if k in names and k != "lines" and v.strip() != ""
    }
    data.setdefault("item", "visor")
    raw = data.get("quantity")
    if isinstance(raw, str) and (number := quantity(raw)) is not None:
        data["quantity"] = number
    for optional in ("urgency_reason", "notes"):
        data.setdefault(optional, "")
    return data
