"""Typed failures of the fabcoord core.

Every failure a user can cause is a :class:`FabcoordError`. Interfaces translate them once: the CLI
prints ``str(error)`` on one line and exits with ``exit_code``; the web layer answers ``http_status``.

Hierarchy::

    FabcoordError
    ├── ConfigError
    ├── DatabaseProblem
    │   ├── DatabaseUnreachable, DatabaseBusy, NotADatabase
    │   └── SchemaMissing, SchemaOutdated, SchemaTooNew
    ├── InvalidInput
    │   └── InvalidQuantity, UnknownUnit
    ├── NotFound
    │   └── UnknownItem, UnknownLocation, UnknownMove, UnknownFablab, UnknownHospital
    ├── AlreadyExists
    └── LedgerError
        └── InsufficientStock, UnbalancedPosting, AlreadyReversed, ReversalOfReversal,
            IdempotencyConflict
"""

from __future__ import annotations


class FabcoordError(Exception):
    """Base of every failure a user of fabcoord can cause or meet."""

    exit_code = 1
    http_status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(FabcoordError):
    """The settings are invalid."""


class DatabaseProblem(FabcoordError):
    """The database cannot be used."""

    exit_code = 2
    http_status = 503


class DatabaseUnreachable(DatabaseProblem):
    """The database server cannot be reached or refuses the connection."""


class DatabaseBusy(DatabaseProblem):
    """The database stayed locked past the timeout, or a transaction was chosen as deadlock victim."""


class NotADatabase(DatabaseProblem):
    """The SQLite file exists but is not a database."""


class SchemaMissing(DatabaseProblem):
    """The database has no fabcoord schema yet."""


class SchemaOutdated(DatabaseProblem):
    """The database schema is older than this code; ``fabcoord init`` upgrades it."""


class SchemaTooNew(DatabaseProblem):
    """The database was written by a newer fabcoord."""


class InvalidInput(FabcoordError):
    """A value given by the user is not acceptable."""

    http_status = 422


class InvalidQuantity(InvalidInput):
    """A quantity is not a number, not whole in its unit, or has the wrong sign."""


class UnknownUnit(InvalidInput):
    """A unit is not known, or does not fit the item."""


class NotFound(FabcoordError):
    """A named record does not exist."""

    http_status = 404


class UnknownItem(NotFound):
    """No item has that code."""


class UnknownLocation(NotFound):
    """No location has that code."""


class UnknownMove(NotFound):
    """No ledger move has that number."""


class UnknownFablab(NotFound):
    """No fablab has that name."""


class UnknownHospital(NotFound):
    """No hospital has that name."""


class AlreadyExists(FabcoordError):
    """A record with that unique name exists already."""

    http_status = 409


class LedgerError(FabcoordError):
    """A posting breaks a ledger rule."""

    http_status = 409


class InsufficientStock(LedgerError):
    """A posting would take a balance below zero where that is forbidden."""

    def __init__(
        self,
        *,
        item: str,
        location: str,
        lot: str,
        available: int,
        requested: int,
        unit: str,
        other_lots: tuple[str, ...] = (),
    ) -> None:
        lot_text = f" lot {lot}" if lot else " without a lot"
        elsewhere = (
            f"; {location} holds {item} in lot(s) {', '.join(other_lots)}" if other_lots else ""
        )
        super().__init__(
            f"not enough {item}{lot_text if lot or other_lots else ''} at {location}: "
            f"{available} {unit} available, {requested} {unit} requested{elsewhere}"
        )
        self.item, self.location, self.lot = item, location, lot
        self.available, self.requested = available, requested


class UnbalancedPosting(LedgerError):
    """The legs of a posting do not sum to zero for every item and lot."""


class AlreadyReversed(LedgerError):
    """The move has been reversed already."""


class ReversalOfReversal(LedgerError):
    """A reversal cannot itself be reversed; post a new move instead."""


class IdempotencyConflict(LedgerError):
    """The idempotency key was used before for a different posting."""
