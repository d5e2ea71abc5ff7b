"""The one back-off rule every retry loop uses: wait ``first_s``, then twice as long each time,
at most ``most_s``."""

from __future__ import annotations


def doubling_delay(attempt: int, *, first_s: float, most_s: float) -> float:
    """Seconds to wait after failure number ``attempt`` (1 for the first): ``first_s``,
    ``2 × first_s``, ``4 × first_s`` … at most ``most_s``."""
    return float(min(most_s, first_s * 2.0 ** max(0, attempt - 1)))
