"""A failure that repeats is logged once, with a count, and waited out longer each time.

A pass that raises the same error on every tick would otherwise log a traceback four times a
second forever. The first occurrence of each distinct error is logged (with its traceback when it
is not a :class:`~fabcoord.errors.FabcoordError`, i.e. a bug); repeats are only counted, and the
count is logged when the error changes or stops (and at 10, 100, 1000… repeats). The pause after each failure in a row doubles:
``first_s``, 2 × ``first_s``, … ``most_s``.
"""

from __future__ import annotations

import logging

from fabcoord.backoff import doubling_delay
from fabcoord.errors import FabcoordError


def error_key(error: BaseException) -> tuple[str, str]:
    """What makes two errors the same: their type and message."""
    return type(error).__name__, str(error)


class RepeatedErrors:
    """Logs and paces one kind of recurring work (a pass, a lease renewal)."""

    def __init__(
        self, what: str, log: logging.Logger, *, first_s: float = 1.0, most_s: float = 60.0
    ) -> None:
        self.what, self.log = what, log
        self.first_s, self.most_s = first_s, most_s
        self.key: tuple[str, str] | None = None
        self.count = 0  # failures in a row with ``key``
        self.in_row = 0  # failures in a row, whatever they were

    def failed(self, error: BaseException) -> float:
        """Note a failure; return how long to wait before trying again."""
        key = error_key(error)
        if key != self.key:
            self._summarise()
            self.key, self.count = key, 0
            if isinstance(error, FabcoordError):
                self.log.warning("%s failed: %s", self.what, error)
            else:
                self.log.error("%s failed", self.what, exc_info=error)
        self.count += 1
        self.in_row += 1
        if self.count >= 10 and _power_of_ten(self.count):  # a bug that never stops still shows
            self.log.warning(
                "%s still failing (%d times in a row): %s", self.what, self.count, error
            )
        return doubling_delay(self.in_row, first_s=self.first_s, most_s=self.most_s)

    def succeeded(self) -> None:
        """The work went through: the pause starts again from ``first_s``."""
        self._summarise()
        self.key, self.count, self.in_row = None, 0, 0

    def _summarise(self) -> None:
        if self.key is not None and self.count > 1:
            name, message = self.key
            self.log.warning(
                "%s failed %d times in a row: %s: %s", self.what, self.count, name, message
            )


def _power_of_ten(count: int) -> bool:
    while count % 10 == 0:
        count //= 10
    return count == 1
