"""Starting one claimed job on one printer, and making sure it really started.

Steps: upload the design's file if the printer lacks it; select it (which resets the job's
progress); record ``start_sent_at``; send ``start``; then watch the printer (push events and REST)
until it shows our file printing, or finished. A start that does not show within ``confirm_s`` puts
the job back in the queue (nothing posted: no filament was used).
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from fabcoord.db import unit_of_work
from print_farm import claims, dispatch_db
from print_farm.errors import FileMissing, OctoPrintError, PrintDidNotStart
from print_farm.tracker import Tracked
from print_farm.tracking import is_active, is_down

if TYPE_CHECKING:
    from print_farm.dispatcher import Dispatcher

CONFIRM_POLL_S = 0.2


async def start_job(dispatcher: Dispatcher, tracked: Tracked, job_id: int, attempt: int) -> bool:
    """Start the job; True when the printer confirmed it (the job is then ``printing``)."""
    client = tracked.client
    assert client is not None
    engine = dispatcher.engine
    with unit_of_work(engine, read_only=True) as session:
        name, content = dispatch_db.job_file(session=session, job_id=job_id)
    try:
        if tracked.files is None:
            tracked.files = await client.list_files()
        if name not in tracked.files:
            await client.upload(name, content)
            tracked.files.add(name)
        await client.select(name)
    except OctoPrintError as error:
        if isinstance(error, FileMissing):
            tracked.files = None
        return _requeue(dispatcher, tracked, job_id, attempt, f"could not start: {error}")
    with unit_of_work(engine) as session:
        if not claims.mark_start_sent(session=session, job_id=job_id, attempt=attempt):
            return False
    tracked.begin_start(time.time())
    problem = ""
    try:
        await client.start()
    except PrintDidNotStart:
        pass  # the client looked too early or the start was silent: the watch below decides
    except OctoPrintError as error:
        problem = str(error)
    if await _confirm(dispatcher, tracked, name):
        with unit_of_work(engine) as session:
            claims.mark_printing(session=session, job_id=job_id, attempt=attempt)
        return True
    why = problem or f"the print did not start on {tracked.name} ({tracked.state})"
    return _requeue(dispatcher, tracked, job_id, attempt, why)


async def _confirm(dispatcher: Dispatcher, tracked: Tracked, name: str) -> bool:
    """Watch until our file prints (or already finished), the printer goes down, or time is up."""
    client = tracked.client
    assert client is not None
    deadline = time.monotonic() + dispatcher.config.confirm_s
    while True:
        if tracked.done_file == name or (is_active(tracked.state) and tracked.file == name):
            return True
        try:
            status = await client.job()
        except OctoPrintError:
            status = None
        if status is not None:
            tracked.apply_job(status)
            if status.file_name == name and (
                status.is_printing or (status.finished and tracked.done_file is None)
            ):
                return True
            if is_down(status.state):
                return False
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(CONFIRM_POLL_S)


def _requeue(dispatcher: Dispatcher, tracked: Tracked, job_id: int, attempt: int, why: str) -> bool:
    with unit_of_work(dispatcher.engine) as session:
        claims.requeue_not_started(session=session, job_id=job_id, attempt=attempt, why=why)
    tracked.notice = why[:300]
    return False
