"""The web layer's texts and rules that need no web framework: French labels, the responses the
API documents, and turning posted form fields into an order."""

from __future__ import annotations

import re
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
FIELD_FR = {  # in the form's order: the first invalid one gets the focus
    "department": "Service demandeur",
    "contact_name": "Nom du contact",
    "contact_phone": "Téléphone",
    "contact_email": "E-mail",
    "item": "Modèle",
    "quantity": "Nombre de visières",
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


def cross_field_errors(values: dict[str, str]) -> dict[str, str]:
    """The rules between fields, on the raw form values (shown with the single-field errors)."""
    return schemas.cross_field_errors(
        priority=values.get("priority", "normal"),
        urgency_reason=values.get("urgency_reason", ""),
        has_lines=False,
        quantity=values.get("quantity", "").strip() or None,
        site=values.get("site", "").strip() or None,
        delivery_address=values.get("delivery_address", ""),
    )


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
    written = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", str(data.get("needed_by", "")).strip())
    if written:  # typed by hand where the browser shows no date picker
        day, month, year = written.groups()
        data["needed_by"] = f"{year}-{int(month):02d}-{int(day):02d}"
    raw = data.get("quantity")
    if isinstance(raw, str) and (number := quantity(raw)) is not None:
        data["quantity"] = number
    for optional in ("urgency_reason", "notes"):
        data.setdefault(optional, "")
    return data
