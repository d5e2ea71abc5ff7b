"""What crosses the boundary: the order a hospital submits, and what it (and managers) read back.

Validation messages are in French: hospital staff read them beside the form fields and in the
API's ``errors`` object.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from datetime import date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from orders.models import OrderStatus, Priority

MAX_VISORS = 100_000
PARIS = ZoneInfo("Europe/Paris")
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
PHONE_PATTERN = r"^\+?[0-9][0-9 .()-]{4,28}[0-9]$"
_PHONE = re.compile(PHONE_PATTERN)


def today() -> date:
    """Today in France, the day hospitals reason in."""
    return datetime.now(PARIS).date()


def _plain(value: str, *, multiline: bool) -> str:
    for char in value:
        if char in "\t\n\r" and multiline:
            continue
        if unicodedata.category(char) in {"Cc", "Cf", "Cs", "Co", "Cn"}:  # Cf: invisible, bidi
            raise ValueError("Caractère non autorisé.")
    return value


def _line(value: str) -> str:
    return _plain(value, multiline=False)


def _text(value: str) -> str:
    return _plain(value, multiline=True)


def _email(value: str) -> str:
    if not _EMAIL.match(value) or len(value.split("@")[0]) > 64:
        raise ValueError("Adresse e-mail invalide (exemple : nom@chu.fr).")
    return value.lower()


def _phone(value: str) -> str:
    if not _PHONE.match(value):
        raise ValueError("Numéro de téléphone invalide (exemple : 05 49 44 44 44).")
    return value


def _not_past(value: date) -> date:
    if value < today():
        raise ValueError("La date ne peut pas être passée.")
    if value.year > today().year + 5:
        raise ValueError("Date trop lointaine.")
    return value


Line = Annotated[str, AfterValidator(_line)]
Text = Annotated[str, AfterValidator(_text)]


class OrderLineIn(BaseModel):
    """One line of an order: a model of the catalogue (``GET /api/v1/models``) and a quantity."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    item: Line = Field(min_length=1, max_length=64, description="Code du modèle (catalogue)")
    quantity: int = Field(strict=True, ge=1, le=MAX_VISORS)


MAX_LINES = 20
EXAMPLE: dict[str, Any] = {
    "department": "Réanimation médicale",
    "contact_name": "Claire Martin",
    "contact_email": "claire.martin@chu-poitiers.fr",
    "contact_phone": "05 49 44 44 44",
    "lines": [{"item": "visor", "quantity": 250}],
    "needed_by": "2027-01-15",
    "delivery_address": "Magasin central\n2 rue de la Milétrie, 86000 Poitiers",
    "purchase_order": "BC-2026-00417",
    "priority": "urgent",
    "urgency_reason": "Afflux de patients",
}


class OrderCreate(BaseModel):
    """An order as a hospital submits it (form or API).

    Either ``lines`` (one or more models and quantities, one line per model: a model on a second
    line is refused, 422 naming ``lines.N.item``) or, for a single model, ``item`` and
    ``quantity``. Either ``site`` (one of the hospital's sites, ``GET /api/v1/sites``) or a
    ``delivery_address``, which then becomes one of the hospital's sites.
    """

    model_config = ConfigDict(
        str_strip_whitespace=True, extra="forbid", json_schema_extra={"examples": [EXAMPLE]}
    )

    department: Line = Field(min_length=1, max_length=120, description="Service demandeur")
    contact_name: Line = Field(min_length=1, max_length=120)
    contact_email: Annotated[str, AfterValidator(_email)] = Field(
        min_length=3, max_length=254, json_schema_extra={"format": "email"}
    )
    contact_phone: Annotated[str, AfterValidator(_phone)] = Field(
        min_length=6, max_length=30, json_schema_extra={"pattern": PHONE_PATTERN}
    )
    item: Line = Field(default="visor", min_length=1, max_length=64)
    quantity: int | None = Field(default=None, strict=True, ge=1, le=MAX_VISORS)
    lines: list[OrderLineIn] = Field(default_factory=list, max_length=MAX_LINES)
    needed_by: Annotated[date, AfterValidator(_not_past)]
    site: int | None = Field(default=None, ge=1, le=2**31 - 1, description="Site de livraison")
    delivery_address: Text = Field(default="", max_length=300)
    purchase_order: Line = Field(
        default="", max_length=60, description="Numéro de bon de commande de l'hôpital"
    )
    priority: Priority = Priority.NORMAL
    urgency_reason: Text = Field(default="", max_length=500)
    notes: Text = Field(default="", max_length=2000)

    def order_lines(self) -> list[OrderLineIn]:
        """The lines asked for (``item`` and ``quantity`` make one line)."""
        if self.lines:
            return list(self.lines)
        return [OrderLineIn.model_construct(item=self.item, quantity=self.quantity or 0)]

    def check_urgency(self) -> dict[str, str]:
        """Field errors that depend on several fields (all of them at once)."""
        return cross_field_errors(
            priority=self.priority.value,
            urgency_reason=self.urgency_reason,
            has_lines=bool(self.lines),
            quantity=self.quantity,
            site=self.site,
            delivery_address=self.delivery_address,
            items=[line.item for line in self.lines],
        )


def repeated_models(items: Sequence[str]) -> dict[str, str]:
    """``lines.N.item`` for each line whose model an earlier line of the order has already.

    One line per model: two lines of one model would be one demand counted as two lines by the
    plan, the progress and the documents, and the hospital likely meant to change one of them.
    """
    problems: dict[str, str] = {}
    seen: set[str] = set()
    for number, item in enumerate(items):
        if item in seen:
            problems[f"lines.{number}.item"] = (
                f"Modèle « {item} » déjà sur une autre ligne : une ligne par modèle, "
                "additionnez les quantités."
            )
        seen.add(item)
    return problems


def cross_field_errors(
    *,
    priority: str,
    urgency_reason: str,
    has_lines: bool,
    quantity: object,
    site: object,
    delivery_address: str,
    items: Sequence[str] = (),
) -> dict[str, str]:
    """The rules between fields, usable on raw form values too (so a form shows them all at
    once, beside the errors of single fields). ``items``: the model of each of ``lines``."""
    problems: dict[str, str] = repeated_models(items)
    if priority in {Priority.URGENT.value, Priority.CRITICAL.value} and not urgency_reason.strip():
        problems["urgency_reason"] = "Précisez la raison de l'urgence."
    if has_lines and quantity not in (None, ""):
        problems["quantity"] = "Indiquez soit des lignes, soit une quantité, pas les deux."
    elif not has_lines and quantity in (None, ""):
        problems["quantity"] = "Champ obligatoire."
    if site in (None, "") and not delivery_address.strip():
        problems["delivery_address"] = "Choisissez un site ou indiquez une adresse de livraison."
    return problems


class OrderEventPublic(BaseModel):
    from_status: OrderStatus | None
    to_status: OrderStatus
    actor: str
    reason: str
    at: datetime
    link_id: int | None = None


class OrderLinePublic(BaseModel):
    line: int
    item: str
    quantity: int


class SitePublic(BaseModel):
    """A delivery site of a hospital."""

    id: int
    name: str
    address: str
    postal_code: str
    city: str
    contact: str


class SiteList(BaseModel):
    sites: list[SitePublic]


class CatalogueModel(BaseModel):
    """A model hospitals may order."""

    code: str
    label: str


class Catalogue(BaseModel):
    models: list[CatalogueModel]


class OrderPublic(BaseModel):
    """An order as its hospital and the managers see it, with its progress from the ledger."""

    reference: str
    hospital: str
    status: OrderStatus
    purchase_order: str = ""
    item: str
    quantity: int
    lines: list[OrderLinePublic] = []
    site: SitePublic | None = None
    department: str
    contact_name: str
    contact_email: str
    contact_phone: str
    needed_by: date
    delivery_address: str
    priority: Priority
    urgency_reason: str
    notes: str
    created_at: datetime
    expected_delivery: date | None
    allocated: int
    produced: int
    shipped: int
    delivered: int
    events: list[OrderEventPublic] = []


class OrderList(BaseModel):
    orders: list[OrderPublic]


_MESSAGES = {
    "missing": "Champ obligatoire.",
    "string_too_short": "Champ obligatoire.",
    "string_type": "Texte attendu.",
    "int_type": "Indiquez un nombre entier.",
    "int_parsing": "Indiquez un nombre entier.",
    "int_from_float": "Indiquez un nombre entier.",
    "date_type": "Date invalide (jj/mm/aaaa).",
    "date_parsing": "Date invalide (jj/mm/aaaa).",
    "date_from_datetime_parsing": "Date invalide (jj/mm/aaaa).",
    "date_from_datetime_inexact": "Date invalide (jj/mm/aaaa).",
    "enum": "Choix invalide.",
    "extra_forbidden": "Champ inconnu.",
}


def field_errors(error: ValidationError | list[dict[str, Any]]) -> dict[str, str]:
    """One French message per field, from pydantic's errors (the first error of each field wins)."""
    fields: dict[str, str] = {}
    for detail in error.errors() if isinstance(error, ValidationError) else error:
        location = [str(part) for part in detail.get("loc", ()) if part != "body"]
        name = ".".join(location) or "body"
        kind = str(detail.get("type", ""))
        context = detail.get("ctx") or {}
        if kind == "string_too_long":
            message = f"Trop long : {context.get('max_length')} caractères au plus."
        elif kind == "greater_than_equal":
            message = "Au moins 1."
        elif kind == "less_than_equal":
            message = f"Au plus {MAX_VISORS:,} visières par commande.".replace(",", " ")
        elif kind == "value_error":
            message = str(context.get("error", detail.get("msg", "")))
        else:
            message = _MESSAGES.get(kind, "Valeur invalide.")
        fields.setdefault(name, message)
    return fields


class ErrorBody(BaseModel):
    """Every API error: a message, and one message per invalid field."""

    detail: str
    errors: dict[str, str] = {}


class OrderAmend(BaseModel):
    """What a hospital may change while its order is still ``received`` (only what is given)."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    lines: list[OrderLineIn] | None = Field(default=None, min_length=1, max_length=MAX_LINES)
    needed_by: Annotated[date, AfterValidator(_not_past)] | None = None
    site: int | None = Field(default=None, ge=1, le=2**31 - 1)
    reason: Text = Field(default="", max_length=300)


class OrderCancel(BaseModel):
    """A hospital cancelling its order while it is still ``received``."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    reason: Text = Field(min_length=1, max_length=300)


class ReceiptIn(BaseModel):
    """A hospital signing for a shipment: what it received and refused, and who signs."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    received: int = Field(ge=0, le=10_000_000)
    refused: int = Field(default=0, ge=0, le=10_000_000)
    reason: str = Field(default="", max_length=300)
    signed_by: str = Field(min_length=1, max_length=120)


class ShipmentPublic(BaseModel):
    """A shipment of an order as its hospital sees it."""

    number: str
    batch: str
    quantity: int
    carrier: str
    state: str
    shipped_at: str
    received: int | None
    refused: int | None
    signed_by: str
