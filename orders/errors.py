"""Typed failures of order intake (all are :class:`fabcoord.errors.FabcoordError`)."""

from __future__ import annotations

from fabcoord.errors import AlreadyExists, FabcoordError, InvalidInput, NotFound


class InvalidOrder(InvalidInput):
    """An order's fields are not acceptable; ``fields`` maps each field to its message."""

    def __init__(self, fields: dict[str, str]) -> None:
        summary = "; ".join(f"{name}: {message}" for name, message in fields.items())
        super().__init__(f"invalid order: {summary}")
        self.fields = fields


class UnknownOrder(NotFound):
    """No order has that reference (for this hospital)."""


class LinkNotFound(NotFound):
    """The hospital link is wrong, revoked or absent; says nothing about which hospitals exist."""

    def __init__(self) -> None:
        super().__init__("page introuvable")


class IllegalTransition(FabcoordError):
    """The order cannot go from its current state to the one asked."""

    http_status = 409


class IdempotencyKeyReused(AlreadyExists):
    """The idempotency key was used before with a different order."""


class RateLimited(FabcoordError):
    """Too many requests; ``retry_after`` seconds until the next one is allowed."""

    http_status = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"trop de requêtes : réessayez dans {retry_after} s")
        self.retry_after = retry_after


class Unauthenticated(FabcoordError):
    """An API call without a valid hospital token."""

    http_status = 401

    def __init__(self) -> None:
        super().__init__("jeton d'accès absent, invalide ou révoqué")
