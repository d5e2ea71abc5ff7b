"""Prints that ended while nobody watched, read back from OctoPrint's per-file print statistics.

A print that finished while the dispatcher was down, on a server restarted since, leaves the printer
``Offline`` (or ``Operational``) with no job: only the file's ``prints.last`` (kept in its metadata
on disk) says it succeeded. It counts for our job when it ended after our ``start`` was sent.

Clock assumption: ``prints.last.date`` is epoch seconds of the OctoPrint host's clock and
``start_sent_at`` was taken from the dispatcher host's clock; they must agree to better than the gap
between a print of the file ending and the next one being started on the same printer (the same
machine in the tests; NTP-synchronised hosts in a farm).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from print_farm.errors import OctoPrintError

if TYPE_CHECKING:
    from print_farm.dispatch_db import ActiveJob
    from print_farm.tracker import Tracked

log = logging.getLogger(__name__)


async def printed_meanwhile(tracked: Tracked, job: ActiveJob) -> bool:
    """The printer shows no job of ours, but its statistics say our file printed to its end after
    our start was sent (False when unknown: no start sent, no statistics, no answer)."""
    client = tracked.client
    if (
        client is None
        or job.start_sent_at is None
        or not tracked.reachable
        or tracked.file == job.file_name
    ):
        return False
    try:
        history = await client.file_history(job.file_name)
    except OctoPrintError as error:
        log.info("no print statistics for job %s on %s: %s", job.id, tracked.name, error)
        return False
    return history.succeeded_after(job.start_sent_at.timestamp())
