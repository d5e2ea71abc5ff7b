"""Parsing user quantities into whole numbers of an item's base unit."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from fabcoord.errors import InvalidQuantity, UnknownUnit
from fabcoord.ledger.models import Unit

# unit name -> (base unit, how many base units in one)
_UNITS: dict[str, tuple[Unit, int]] = {
    "g": (Unit.GRAM, 1),
    "kg": (Unit.GRAM, 1000),
    "mm": (Unit.MILLIMETRE, 1),
    "cm": (Unit.MILLIMETRE, 10),
    "m": (Unit.MILLIMETRE, 1000),
    "pcs": (Unit.PIECE, 1),
    "pc": (Unit.PIECE, 1),
    "piece": (Unit.PIECE, 1),
    "pieces": (Unit.PIECE, 1),
    "sheet": (Unit.SHEET, 1),
    "sheets": (Unit.SHEET, 1),
}
MAX_QUANTITY = 10**12


def known_units() -> list[str]:
    return sorted(_UNITS)


def parse_quantity(text: str | int, *, unit: str | None, base: Unit, signed: bool = False) -> int:
    """Return ``text`` (in ``unit``, default the base unit) as a whole number of ``base`` units.

    Args:
        signed: allow negative values (adjustments); zero is never a movement.

    Raises:
        UnknownUnit: the unit is unknown or measures something else than ``base``.
        InvalidQuantity: not a number, not whole in the base unit, zero, negative, or absurdly large.
    """
    unit_name = (unit or base.value).strip().lower()
    if unit_name not in _UNITS:
        raise UnknownUnit(f"unknown unit {unit!r}: use one of {', '.join(known_units())}")
    unit_base, factor = _UNITS[unit_name]
    if unit_base is not base:
        raise UnknownUnit(f"unit {unit_name!r} does not measure {base.value}")
    try:
        value = Decimal(str(text).strip().replace(",", "."))
    except InvalidOperation:
        raise InvalidQuantity(f"quantity {text!r} is not a number") from None
    if not value.is_finite():
        raise InvalidQuantity(f"quantity {text!r} is not a number")
    scaled = value * factor
    if scaled != scaled.to_integral_value():
        raise InvalidQuantity(f"quantity {text} {unit_name} is not a whole number of {base.value}")
    amount = int(scaled)
    if amount == 0:
        raise InvalidQuantity("quantity must not be zero")
    if amount < 0 and not signed:
        raise InvalidQuantity(f"quantity must be positive, got {text}")
    if abs(amount) > MAX_QUANTITY:
        raise InvalidQuantity(f"quantity {text} {unit_name} is too large")
    return amount
