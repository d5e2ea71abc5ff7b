"""What crosses the boundary: the order a hospital submits, and what it (and managers) read back.

Validation messages are in French: hospital staff read them beside the form fields and in the
API's ``errors`` object.
"""

from __future__ import annotations

import re
import unicodedata
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


class OrderCreate(BaseModel):
    """An order as a hospital submits it (form or API)."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    department: Line = Field(min_length=1, max_length=120, description="Service demandeur")
    contact_name: Line = Field(min_length=1, max_length=120)
    contact_email: Annotated[str, AfterValidator(_email)] = Field(
        min_length=3, max_length=254, json_schema_extra={"format": "email"}
    )
    contact_phone: Annotated[str, AfterValidator(_phone)] = Field(
        min_length=6, max_length=30, json_schema_extra={"pattern": PHONE_PATTERN}
    )
    item: Line = Field(default="visor", min_length=1, max_length=64)
    quantity: int = Field(strict=True, ge=1, le=MAX_VISORS)
    needed_by: Annotated[date, AfterValidator(_not_past)]
    delivery_address: Text = Field(min_length=1, max_length=300)
    priority: Priority = Priority.NORMAL
    urgency_reason: Text = Field(default="", max_length=500)
    notes: Text = Field(default="", max_length=2000)

    def check_urgency(self) -> dict[str, str]:
        """Field errors that depend on several fields."""
        if self.priority is not Priority.NORMAL and not self.urgency_reason:
            return {"urgency_reason": "Précisez la raison de l'urgence."}
        return {}


class OrderEventPublic(BaseModel):
    from_status: OrderStatus | None
    to_status: OrderStatus
    actor: str
    reason: str
    at: datetime


class OrderPublic(BaseModel):
    """An order as its hospital and the managers see it, with its progress from the ledger."""

    reference: str
    hospital: str
    status: OrderStatus
    item: str
    quantity: int
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
    "date_type": "Date invalide (AAAA-MM-JJ).",
    "date_parsing": "Date invalide (AAAA-MM-JJ).",
    "date_from_datetime_parsing": "Date invalide (AAAA-MM-JJ).",
    "date_from_datetime_inexact": "Date invalide (AAAA-MM-JJ).",
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
