"""The hospital form without the web framework: French labels and turning posted fields into an order."""

from __future__ import annotations

import re
from typing import Any

from orders.schemas import OrderCreate

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
