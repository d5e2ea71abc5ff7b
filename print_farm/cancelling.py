"""Cancelling on the printer a job an operator cancelled, retried until the printer takes it.

A cancel that fails (409, timeout, printer not answering) is tried again on a later pass, at most
once per ``retry_s``; once accepted it is not sent again for that attempt.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING

from print_farm.errors import OctoPrintError

if TYPE_CHECKING:
    from print_farm.dispatch_db import ActiveJob
    from print_farm.tracker import Tracked

log = logging.getLogger(__name__)


async def send_cancel(tracked: Tracked, job: ActiveJob, *, now: float, retry_s: float) -> bool:
    """Ask the printer to cancel ``job``'s print unless that was done, or tried less than
    ``retry_s`` before ``now`` (the dispatcher's clock); True when the printer accepted it (now
    or before)."""
    if tracked.cancel_sent == job.id:
        return True
    if tracked.client is None:
        return False
    key = (job.id, job.attempt)
    last_key, last_at = tracked.cancel_tried or (key, -math.inf)
    if last_key == key and now - last_at < retry_s:
        return False
    tracked.cancel_tried = (key, now)
    try:
        await tracked.client.cancel()
    except OctoPrintError as error:
        tracked.notice = f"cancel of job {job.id} failed, will retry: {error}"[:300]
        log.warning("job %s on %s: %s", job.id, tracked.name, tracked.notice)
        return False
    tracked.cancel_tried = None
    tracked.cancel_sent = job.id
    if tracked.notice.startswith(f"cancel of job {job.id} failed"):
        tracked.notice = ""  # taken back from the printer's notice unless another replaced it
    return True
