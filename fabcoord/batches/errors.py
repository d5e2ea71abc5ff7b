"""Failures of batches and shipments."""

from __future__ import annotations

from fabcoord.errors import FabcoordError, LedgerError, NotFound


class UnknownBatch(NotFound):
    """No batch has that number."""


class UnknownShipment(NotFound):
    """No shipment has that number."""


class BatchNotShippable(FabcoordError):
    """The batch is not released (assembled, quarantined, scrapped or recalled)."""

    http_status = 409


class WrongBatchState(FabcoordError):
    """The operation does not apply to the batch in its present state."""

    http_status = 409


class ReceiptAlreadyConfirmed(FabcoordError):
    """A shipment's receipt is recorded once."""

    http_status = 409


class TooMuch(FabcoordError):
    """More than the batch holds, the order still needs, or the shipment carried."""

    http_status = 409


class MissingComponents(LedgerError):
    """The fablab's stock lacks a component for the visors asked for."""
