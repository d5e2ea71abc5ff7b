"""Outcomes: what each job on a dispatcher's printers became, recorded exactly once.

The verdict is the pure :func:`print_farm.tracking.judge`; a final verdict not backed by an explicit
``PrintDone`` is checked against a fresh REST reading first (a late push snapshot must not end a
print). Printers whose server is up but whose serial link is closed are reconnected once their bed is
clear and no job is pending on them.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING

from fabcoord.db import unit_of_work
from fabcoord.ledger.posting import utc_now
from print_farm import accounting, cancelling, claims, dispatch_db, history
from print_farm.errors import OctoPrintError
from print_farm.models import JobState
from print_farm.tracker import Tracked
from print_farm.tracking import Observation, Verdict, is_down, judge

if TYPE_CHECKING:
    from print_farm.dispatcher import Dispatcher

log = logging.getLogger(__name__)
FINAL = frozenset({Verdict.DONE, Verdict.FAILED, Verdict.NOT_STARTED})


async def reconcile(d: Dispatcher) -> None:
    """Record what happened to each job on the dispatcher's printers (exactly once)."""
    for printer_id, job in list(d.active.items()):
        tracked = d.tracked.get(printer_id)
        if tracked is None or tracked.client is None or tracked.starting or d.stale(printer_id):
            continue  # a start that ended since the read is judged on the next pass's reading
        key = (job, tracked.judged_key())  # the job as read: a cancel asked for changes it
        if d.printing.get(printer_id) == key:
            continue  # printing, and nothing that could change that has changed
        d.printing.pop(printer_id, None)
        verdict = _judge(d, tracked, job)
        if verdict in FINAL and tracked.done_file != job.file_name:
            await d.poll(tracked)  # confirm with a fresh REST reading before recording
            verdict = _judge(d, tracked, job)
        failed = verdict in (Verdict.FAILED, Verdict.NOT_STARTED)
        if failed and await history.printed_meanwhile(tracked, job):  # ended while unwatched
            verdict = _judge(d, tracked, job, history_done=True)
        await _apply(d, tracked, job, verdict)
        steady = job.status is JobState.PRINTING and not job.cancel_requested
        if steady and verdict is Verdict.PRINTING:  # a verdict that no clock can change
            d.printing[printer_id] = key


def _judge(
    d: Dispatcher, tracked: Tracked, job: dispatch_db.ActiveJob, *, history_done: bool = False
) -> Verdict:
    sent = job.start_sent_at
    settled = sent is not None and (utc_now() - sent).total_seconds() > d.config.confirm_s
    observation: Observation = tracked.observation(job.file_name)
    return judge(
        observation,
        expected_file=job.file_name,
        confirmed=job.status is JobState.PRINTING,
        start_sent=sent is not None,
        settled=settled,
        history_done=history_done,
    )


async def _apply(
    d: Dispatcher, tracked: Tracked, job: dispatch_db.ActiveJob, verdict: Verdict
) -> None:
    if verdict in FINAL or (verdict is Verdict.PRINTING and job.status is JobState.STARTING):
        _record(d, tracked, job, verdict)  # most passes see most printers still printing: no write
    if verdict in FINAL:
        tracked.forget_job()
        d.active.pop(tracked.id, None)
        d.stats[verdict.value] += 1
        log.info("job %s attempt %s on %s: %s", job.id, job.attempt, tracked.name, verdict)
    elif verdict is Verdict.PRINTING and job.cancel_requested:
        await cancelling.send_cancel(d, tracked, job)  # retried on later passes if refused


def _record(d: Dispatcher, tracked: Tracked, job: dispatch_db.ActiveJob, verdict: Verdict) -> None:
    actor = d.config.actor
    d.touched(tracked.id)
    with unit_of_work(d.engine) as session:
        if verdict is Verdict.PRINTING:
            claims.mark_printing(session=session, job_id=job.id, attempt=job.attempt)
        elif verdict is Verdict.DONE:
            accounting.record_done(session=session, job_id=job.id, attempt=job.attempt, actor=actor)
        elif verdict is Verdict.FAILED:
            why = tracked.failure_reason(cancelled=job.cancel_requested)
            accounting.record_failure(
                session=session,
                job_id=job.id,
                attempt=job.attempt,
                completion=tracked.progress,
                why=why,
                actor=actor,
                max_attempts=d.config.max_attempts,
            )
        elif verdict is Verdict.NOT_STARTED:
            claims.requeue_not_started(
                session=session,
                job_id=job.id,
                attempt=job.attempt,
                why=f"the print did not start on {tracked.name} ({tracked.state})",
                max_attempts=d.config.max_attempts,
            )


async def connect_offline(d: Dispatcher) -> None:
    """Connect printers whose server is up but whose serial link is closed, once the bed is
    clear and no job is pending on them."""
    now = d.clock()
    for printer_id, tracked in d.tracked.items():
        row = d.rows.get(printer_id)
        if (
            row is None
            or d.stale(printer_id)  # e.g. a failure just recorded: the bed is not clear any more
            or tracked.client is None
            or not tracked.reachable
            or not is_down(tracked.state)
            or not (row.enabled and row.bed_clear)
            or printer_id in d.active
            or now - tracked.last_connect < d.config.retry_s
        ):
            continue
        tracked.last_connect = now
        try:
            await tracked.client.connect()
        except OctoPrintError as error:
            tracked.notice = f"could not connect the printer: {error}"
        tracked.last_poll = -math.inf
