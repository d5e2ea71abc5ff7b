"""What an OctoPrint server reports: printer state, job progress, upload outcome (plain data).

Re-exported by :mod:`print_farm.octoprint`, which builds them from the REST replies.
"""

from __future__ import annotations

from dataclasses import dataclass

ACTIVE_STATES = frozenset(
    {"Starting", "Printing", "Pausing", "Paused", "Resuming", "Finishing", "Cancelling"}
)


@dataclass(frozen=True)
class PrinterStatus:
    """``GET /api/printer`` state text and flags."""

    state: str
    operational: bool
    printing: bool
    paused: bool
    ready: bool
    error: bool
    closed_or_error: bool


@dataclass(frozen=True)
class JobStatus:
    """``GET /api/job``: the current job and its progress (completion in percent)."""

    state: str
    file_name: str | None
    completion: float | None
    print_time: int | None
    print_time_left: int | None
    error: str | None

    @property
    def is_printing(self) -> bool:
        """A job is under way (starting, printing, pausing, paused, finishing, cancelling)."""
        return self.state in ACTIVE_STATES or self.state.startswith("Printing")

    @property
    def finished(self) -> bool:
        """The last job ran to its end."""
        return self.state == "Operational" and (self.completion or 0.0) >= 100.0

    @property
    def cancelled(self) -> bool:
        """Operational with progress null: meaningful only for a job known to have started."""
        return self.state == "Operational" and self.completion is None

    @property
    def failed_offline(self) -> bool:
        """The printer went offline after an error (thermal runaway, lost serial link, ...)."""
        return self.state.startswith("Offline after error") or self.state == "Error"


@dataclass(frozen=True)
class UploadResult:
    """What the server did with an upload."""

    name: str
    effective_select: bool
    effective_print: bool


@dataclass(frozen=True)
class PrintHistory:
    """``GET /api/files/local/<name>`` ``prints``: OctoPrint's per-file print statistics.

    Kept in the file's metadata on disk, so they survive a server restart. ``last_date`` is when
    the last print of the file ended, in epoch seconds of the OctoPrint host's clock.
    """

    successes: int
    failures: int
    last_date: float | None
    last_success: bool | None

    def succeeded_after(self, moment: float) -> bool:
        """The last print of this file ended successfully after ``moment`` (epoch seconds)."""
        return bool(self.last_success) and self.last_date is not None and self.last_date > moment
