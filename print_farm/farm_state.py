"""What a dispatcher knows between passes: the printers it follows, their rows and their jobs.

Owned by the event loop: database calls running on worker threads never read or write it; they
take plain values and return plain values.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from print_farm.dispatch_db import ActiveJob, PrinterRow
from print_farm.tracker import Tracked


@dataclass
class FarmState:
    """The printers a dispatcher holds, as last read and as followed live.

    Attributes:
        tracked: live state of each printer followed (push events, REST polls).
        rows: each leased printer's row as last read.
        active: the job starting or printing on each printer, as last read.
        printing: printer -> (job as read, tracker key) of a job judged printing, not judged
            again until one of them changes.
        resting: idle printers that got no job -> (what would make them worth planning, until).
        stats: counts of starts and outcomes (started, done, failed, not_started).
        confirmed: starts the printers confirmed, ``(printer, job, attempt, when)``, whose move
            to ``printing`` (started at ``when``) is written with the next pass's other writes
            (one transaction).
    """

    tracked: dict[int, Tracked] = field(default_factory=dict)
    rows: dict[int, PrinterRow] = field(default_factory=dict)
    active: dict[int, ActiveJob] = field(default_factory=dict)
    printing: dict[int, tuple[object, ...]] = field(default_factory=dict)
    resting: dict[int, tuple[tuple[object, ...], float]] = field(default_factory=dict)
    stats: Counter[str] = field(default_factory=Counter)
    touched: set[int] = field(default_factory=set)  # rows written since they were read
    confirmed: list[tuple[int, int, int, datetime]] = field(default_factory=list)

    def touch(self, printer_id: int) -> None:
        """This dispatcher wrote the printer's row or job: the next pass reads them again."""
        self.touched.add(printer_id)

    def stale(self, printer_id: int) -> bool:
        """The printer's row or job was written since the pass read them: decide nothing on
        them until the next pass."""
        return printer_id in self.touched
