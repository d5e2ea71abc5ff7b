"""Outcomes: what each job on a dispatcher's printers became, recorded exactly once.

The verdict is the pure :func:`print_farm.tracking.judge`; a final verdict not backed by an explicit
``PrintDone`` is checked against a fresh REST reading first (a late push snapshot must not end a
print). Printers whose server is up but whose serial link is closed are reconnected once their bed is
clear and no job is pending on them.

:class:`Outcomes` needs the farm's state, the database gateway, the config, the clock and a way to
poll one printer: nothing else of the dispatcher.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlmodel import Session

from fabcoord.ledger.posting import utc_now
from print_farm import accounting, cancelling, claims, dispatch_db, history
from print_farm.db_gateway import DbGateway
from print_farm.dispatch_config import DispatcherConfig
from print_farm.errors import OctoPrintError
from print_farm.farm_state import FarmState
from print_farm.models import JobState
from print_farm.tracker import Tracked
from print_farm.tracking import Observation, Verdict, is_down, judge

log = logging.getLogger(__name__)
FINAL = frozenset({Verdict.DONE, Verdict.FAILED, Verdict.NOT_STARTED})
Poll = Callable[[Tracked], Awaitable[None]]


@dataclass(frozen=True)
class Record:
    """A verdict to write, with the rest of the pass's writes (:func:`write_record`)."""

    printer_id: int
    job: dispatch_db.ActiveJob
    verdict: Verdict
    why: str
    progress: float | None


class Outcomes:
    """Judges and records the jobs on the farm's printers (see the module docstring)."""

    def __init__(
        self,
        state: FarmState,
        db: DbGateway,
        config: DispatcherConfig,
        *,
        clock: Callable[[], float],
        poll: Poll,
    ) -> None:
        self.state, self.db, self.config, self.clock, self.poll = state, db, config, clock, poll
        self.pending: list[Record] = []  # verdicts judged, not yet written

    def take(self) -> list[Record]:
        """The verdicts judged since the last call, in order; the caller writes them (one
        transaction for a pass: :func:`write_record` each)."""
        pending, self.pending = self.pending, []
        return pending

    def ending(self) -> set[int]:
        """The printers whose job's end is judged and not yet written (a final verdict)."""
        return {record.printer_id for record in self.pending if record.verdict in FINAL}

    async def reconcile(self) -> None:
        """Record what happened to each job on the dispatcher's printers (exactly once)."""
        state = self.state
        for printer_id, job in list(state.active.items()):
            tracked = state.tracked.get(printer_id)
            if (
                tracked is None
                or tracked.client is None
                or tracked.starting
                or state.stale(printer_id)
            ):
                continue  # a start that ended since the read is judged on the next reading
            key = (job, tracked.judged_key())  # the job as read: a cancel asked for changes it
            if state.printing.get(printer_id) == key:
                continue  # printing, and nothing that could change that has changed
            state.printing.pop(printer_id, None)
            verdict = self._judge(tracked, job)
            if verdict in FINAL and tracked.done_file != job.file_name:
                await self.poll(tracked)  # confirm with a fresh REST reading before recording
                verdict = self._judge(tracked, job)
            failed = verdict in (Verdict.FAILED, Verdict.NOT_STARTED)
            if failed and await history.printed_meanwhile(tracked, job):  # ended unwatched
                verdict = self._judge(tracked, job, history_done=True)
            await self._apply(tracked, job, verdict)
            steady = job.status is JobState.PRINTING and not job.cancel_requested
            if steady and verdict is Verdict.PRINTING:  # a verdict that no clock can change
                state.printing[printer_id] = key

    def _judge(
        self, tracked: Tracked, job: dispatch_db.ActiveJob, *, history_done: bool = False
    ) -> Verdict:
        sent = job.start_sent_at
        settled = sent is not None and (utc_now() - sent).total_seconds() > self.config.confirm_s
        observation: Observation = tracked.observation(job.file_name)
        return judge(
            observation,
            expected_file=job.file_name,
            confirmed=job.status is JobState.PRINTING,
            start_sent=sent is not None,
            settled=settled,
            history_done=history_done,
        )

    async def _apply(self, tracked: Tracked, job: dispatch_db.ActiveJob, verdict: Verdict) -> None:
        if verdict in FINAL or (verdict is Verdict.PRINTING and job.status is JobState.STARTING):
            await self._record(tracked, job, verdict)  # most printers still print: no write
        if verdict in FINAL:
            tracked.forget_job()
            self.state.active.pop(tracked.id, None)
            self.state.stats[verdict.value] += 1
            log.info("job %s attempt %s on %s: %s", job.id, job.attempt, tracked.name, verdict)
        elif verdict is Verdict.PRINTING and job.cancel_requested:
            await cancelling.send_cancel(  # retried on later passes if refused
                tracked, job, now=self.clock(), retry_s=self.config.retry_s
            )

    async def _record(self, tracked: Tracked, job: dispatch_db.ActiveJob, verdict: Verdict) -> None:
        """Keep the verdict for the pass's write (the job is read again after it)."""
        self.state.touch(tracked.id)
        why = tracked.failure_reason(cancelled=job.cancel_requested)
        if verdict is Verdict.NOT_STARTED:
            why = f"the print did not start on {tracked.name} ({tracked.state})"
        self.pending.append(Record(tracked.id, job, verdict, why, tracked.progress))

    async def connect_offline(self) -> None:
        """Connect printers whose server is up but whose serial link is closed, once the bed is
        clear and no job is pending on them."""
        state, now = self.state, self.clock()
        for printer_id, tracked in state.tracked.items():
            row = state.rows.get(printer_id)
            if (
                row is None
                or state.stale(printer_id)  # e.g. a failure just recorded: the bed is not clear
                or tracked.client is None
                or not tracked.reachable
                or not is_down(tracked.state)
                or not (row.enabled and row.bed_clear)
                or printer_id in state.active
                or now - tracked.last_connect < self.config.retry_s
            ):
                continue
            tracked.last_connect = now
            try:
                await tracked.client.connect()
            except OctoPrintError as error:
                tracked.notice = f"could not connect the printer: {error}"
            tracked.last_poll = -math.inf


def in_lock_order(session: Session, records: list[Record]) -> list[Record]:
    """``records`` in the order their writes may take shared locks: finished prints by their
    fablab's stock location (the ledger locks balances in (item, location, lot) order, so the
    frame stocks of several fablabs are taken in one order by every pass and every posting), then
    by printer. Other verdicts lock only their own printer's rows."""
    done = {r.printer_id for r in records if r.verdict is Verdict.DONE}
    stock = (
        accounting.stock_location_ids(session=session, printer_ids=done) if len(done) > 1 else {}
    )
    return sorted(records, key=lambda r: (stock.get(r.printer_id, 0), r.printer_id))


def write_record(session: Session, record: Record, config: DispatcherConfig) -> None:
    """Write one verdict (on a gateway thread; exactly once per attempt: each write checks the
    attempt's state under its row lock)."""
    job, verdict, why, progress = record.job, record.verdict, record.why, record.progress
    if verdict is Verdict.PRINTING:
        claims.mark_printing(session=session, job_id=job.id, attempt=job.attempt)
    elif verdict is Verdict.DONE:
        accounting.record_done(
            session=session, job_id=job.id, attempt=job.attempt, actor=config.actor
        )
    elif verdict is Verdict.FAILED:
        accounting.record_failure(
            session=session,
            job_id=job.id,
            attempt=job.attempt,
            completion=progress,
            why=why,
            actor=config.actor,
            max_attempts=config.max_attempts,
        )
    elif verdict is Verdict.NOT_STARTED:
        claims.requeue_not_started(
            session=session,
            job_id=job.id,
            attempt=job.attempt,
            why=why,
            max_attempts=config.max_attempts,
        )
