"""Typed failures of the suppliers package (all :class:`fabcoord.errors.FabcoordError`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fabcoord.errors import FabcoordError, InvalidInput, NotFound

SHOWN_REJECTIONS = 20


@dataclass(frozen=True)
class Rejection:
    """One row of a directory file that cannot be imported, and why."""

    line: int
    reason: str


class DirectoryRejected(InvalidInput):
    """A directory file has rows that cannot be imported; nothing of it was imported."""

    def __init__(self, file_name: str, rejections: Sequence[Rejection]) -> None:
        shown = "; ".join(f"line {r.line}: {r.reason}" for r in rejections[:SHOWN_REJECTIONS])
        more = len(rejections) - SHOWN_REJECTIONS
        tail = f"; … and {more} more" if more > 0 else ""
        super().__init__(
            f"{file_name}: {len(rejections)} row(s) rejected, nothing imported: {shown}{tail}"
        )
        self.rejections = list(rejections)


class UnknownSupplier(NotFound):
    """No supplier has that number, SIRET or name."""


class UnknownPurchaseOrder(NotFound):
    """No purchase order has that number."""


class UnknownLot(NotFound):
    """No ledger move carries that lot."""


class PurchaseStateError(FabcoordError):
    """The purchase order's state does not allow the operation."""

    http_status = 409


class NoExpectedDay(InvalidInput):
    """A purchase order would be confirmed without a delivery day: none given, and its supplier
    declares no lead time to derive one from (it would then count nowhere as stock on order)."""


class OverReceipt(InvalidInput):
    """More would be received than was ordered (allowed only when asked for)."""
