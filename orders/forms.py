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


def form_data(values: dict[str, str]) -> dict[str, Any]:
    """The order fields of a submitted form; quantities that are plain digits become numbers."""
    names = OrderCreate.model_fields
    data: dict[str, Any] = {k: v for k, v in values.items() if k in names and v.strip() != ""}
    data.setdefault("item", "visor")
    quantity = data.get("quantity", "").strip() if isinstance(data.get("quantity"), str) else ""
    if re.fullmatch(r"[0-9]{1,12}", quantity):
        data["quantity"] = int(quantity)
    for optional in ("urgency_reason", "notes"):
        data.setdefault(optional, "")
    return data
