"""The dispatcher configuration with the attempt limit (``farm run --max-attempts``).

Stop-gap while :class:`~print_farm.dispatcher.DispatcherConfig` has no ``max_attempts`` field:
:func:`print_farm.attempts.limit_of` reads the field from whichever configuration it is given.
"""

from __future__ import annotations

from dataclasses import dataclass

from print_farm.attempts import DEFAULT_MAX_ATTEMPTS
from print_farm.dispatcher import DispatcherConfig


@dataclass(frozen=True)
class LimitedConfig(DispatcherConfig):
    """``max_attempts``: starts (failed or not started) before a job is held."""

    max_attempts: int = DEFAULT_MAX_ATTEMPTS
