"""Typed failures of the hand-off.

Hierarchy::

    FabcoordError
    ├── NotFound: UnknownPartner, UnknownHandoff
    ├── InvalidInput: BelowMinimum, TooSoon, NotSent, HandoffStateError
    └── PartnerError (talking to a partner's Odoo)
        ├── PartnerUnavailable  down, slow, lost reply: retried, never lost
        ├── PartnerServerError  the partner's server failed: retried a few times
        └── PartnerRefused      access, validation, unknown field or model, wrong database
            └── PartnerAuthFailed  wrong login or API key
"""

from __future__ import annotations

from fabcoord.errors import FabcoordError, InvalidInput, NotFound


class UnknownPartner(NotFound):
    """No partner manufacturer has that name."""


class UnknownHandoff(NotFound):
    """No hand-off has that number."""


class BelowMinimum(InvalidInput):
    """The quantity is below the partner's minimum order."""


class TooSoon(InvalidInput):
    """The needed-by date is before the partner's lead time allows (``--force`` accepts it)."""


class NotSent(InvalidInput):
    """The hand-off has not been placed in the partner's Odoo."""


class HandoffStateError(InvalidInput):
    """The hand-off is not in a state that allows this."""

    http_status = 409


class PartnerError(FabcoordError):
    """Talking to a partner's Odoo failed."""

    exit_code = 3
    http_status = 502
    retry = False


class PartnerUnavailable(PartnerError):
    """The partner's server is down, too slow, or the reply was lost: try again later."""

    retry = True


class PartnerServerError(PartnerError):
    """The partner's server failed on our request (a server-side bug): tried again a few times."""

    retry = True


class PartnerRefused(PartnerError):
    """The partner's Odoo refused the request: retrying will not help."""


class PartnerAuthFailed(PartnerRefused):
    """The partner's Odoo refused the login or the API key."""
