"""Parsing quantities into whole base units."""

from __future__ import annotations

import pytest

from fabcoord.errors import InvalidQuantity, UnknownUnit
from fabcoord.ledger.models import Unit
from fabcoord.ledger.units import parse_quantity


@pytest.mark.parametrize(
    ("text", "unit", "base", "expected"),
    [
        ("2.5", "kg", Unit.GRAM, 2500),
        ("2,5", "kg", Unit.GRAM, 2500),
        ("750", None, Unit.GRAM, 750),
        ("1.2", "m", Unit.MILLIMETRE, 1200),
        ("12", "sheets", Unit.SHEET, 12),
        ("3", "PCS", Unit.PIECE, 3),
    ],
)
def test_quantities_convert_to_the_base_unit(
    text: str, unit: str | None, base: Unit, expected: int
) -> None:
    assert parse_quantity(text, unit=unit, base=base) == expected


def test_signed_quantities_only_where_allowed() -> None:
    assert parse_quantity("-12", unit=None, base=Unit.SHEET, signed=True) == -12
    with pytest.raises(InvalidQuantity, match="positive"):
        parse_quantity("-12", unit=None, base=Unit.SHEET)


@pytest.mark.parametrize(
    ("text", "unit", "base", "error", "message"),
    [
        ("abc", None, Unit.GRAM, InvalidQuantity, "not a number"),
        ("nan", None, Unit.GRAM, InvalidQuantity, "not a number"),
        ("inf", None, Unit.GRAM, InvalidQuantity, "not a number"),
        ("0", None, Unit.GRAM, InvalidQuantity, "zero"),
        ("1.5", "pcs", Unit.PIECE, InvalidQuantity, "whole number"),
        ("0.0001", "kg", Unit.GRAM, InvalidQuantity, "whole number"),
        ("1e30", None, Unit.GRAM, InvalidQuantity, "too large"),
        ("5", "kgs", Unit.GRAM, UnknownUnit, "unknown unit"),
        ("5", "kg", Unit.PIECE, UnknownUnit, "does not measure"),
    ],
)
def test_bad_quantities_are_refused_with_a_clear_message(
    text: str, unit: str | None, base: Unit, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        parse_quantity(text, unit=unit, base=base)
