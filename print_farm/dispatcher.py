"""The dispatcher: keeps every printer it holds busy and records every print's end exactly once.

It only wires things together: printer leases and job claims (:mod:`print_farm.claims`), the pure
plan (:mod:`print_farm.planning`) and verdicts (:mod:`print_farm.tracking`), the ledger postings
(:mod:`print_farm.accounting`), OctoPrint's REST client and push subscriptions. Push events drive
state; a slower REST poll is the safety net; a printer that stops answering is marked unreachable
and keeps its job until it answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine

from fabcoord.db import unit_of_work
from fabcoord.errors import FabcoordError
from fabcoord.ledger.posting import utc_now
from print_farm import accounting, claims, dispatch_db, planning
from print_farm.errors import ApiKeyUnavailable, AuthenticationFailed, OctoPrintError
from print_farm.models import FarmPrinter, JobState
from print_farm.octoprint import OctoPrintClient
from print_farm.push import PrinterEvent, PushSubscription
from print_farm.registry import read_api_key
from print_farm.starting import start_job
from print_farm.tracker import Tracked
from print_farm.tracking import Observation, Verdict, is_down, is_idle, judge

log = logging.getLogger(__name__)

ClientFactory = Callable[[str, str, float], OctoPrintClient]
SubscriptionFactory = Callable[[str, str, str, Callable[[PrinterEvent], None]], PushSubscription]


def _client(url: str, api_key: str, timeout: float) -> OctoPrintClient:
    return OctoPrintClient(url, api_key, timeout=timeout)


def _subscription(
    key: str, url: str, api_key: str, on_event: Callable[[PrinterEvent], None]
) -> PushSubscription:
    return PushSubscription(key, url, api_key, on_event=on_event)


@dataclass(frozen=True)
class DispatcherConfig:
    """How one dispatcher behaves.

    Attributes:
        owner: this dispatcher's id in printer leases (unique per running dispatcher).
        lease_s: how long a lease lasts without renewal (a dead dispatcher's printers are taken
            over after this).
        tick_s: pause between passes (planning, reconciling); events wake it earlier.
        poll_s: REST safety-net poll of each printer.
        stagger_s: minimum time between two print starts of this dispatcher.
        confirm_s: how long a start may take to show on the printer before the job is requeued.
        max_printers: the most printers this dispatcher drives (None: all it can lease).
    """

    owner: str
    actor: str
    lease_s: float = 15.0
    tick_s: float = 0.25
    poll_s: float = 5.0
    stagger_s: float = 0.25
    confirm_s: float = 6.0
    push: bool = True
    timeout_s: float = 5.0
    retry_s: float = 10.0
    max_parallel: int = 64
    max_printers: int | None = None


@dataclass(frozen=True)
class PrinterView:
    """One row of the live view."""

    name: str
    state: str
    reachable: bool
    job_id: int | None
    completion: float | None
    time_left_s: int | None
    notice: str


class Dispatcher:
    """See the module docstring; :meth:`run` until stopped, or once with ``once=True``."""

    def __init__(
        self,
        engine: Engine,
        config: DispatcherConfig,
        *,
        client_factory: ClientFactory = _client,
        subscription_factory: SubscriptionFactory = _subscription,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine, self.config = engine, config
        self._client_factory, self._subscription_factory = client_factory, subscription_factory
        self._clock = clock
        self._tracked: dict[int, Tracked] = {}
        self._by_name: dict[str, Tracked] = {}
        self._rows: dict[int, FarmPrinter] = {}
        self._active: dict[int, dispatch_db.ActiveJob] = {}
        self._owned: set[int] = set()
        self._next_lease = -math.inf
        self._next_start = -math.inf
        self._starts: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._limit = asyncio.Semaphore(config.max_parallel)
        self.stats: Counter[str] = Counter()  # started, done, failed, not_started

    # --- the loop -------------------------------------------------------------------------

    async def run(
        self,
        *,
        once: bool = False,
        stop: asyncio.Event | None = None,
        on_pass: Callable[[], None] | None = None,
    ) -> None:
        """Dispatch until ``stop`` is set (or one full pass with ``once``), then let go."""
        stop = stop or asyncio.Event()
        try:
            if once:
                await self.step(poll_all=True)
                await self.wait_for_starts()
                await self.step(poll_all=False, plan=False)
                return
            while not stop.is_set():
                try:
                    await self.step()
                except FabcoordError as error:  # database busy or unreachable: try again
                    log.warning("dispatcher pass failed: %s", error)
                if on_pass is not None:
                    on_pass()
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wait(stop), self.config.tick_s)
        finally:
            await self.close()

    async def _wait(self, stop: asyncio.Event) -> None:
        waiters = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def step(self, *, poll_all: bool = False, plan: bool = True) -> None:
        """One pass: leases, state, outcomes, then new starts."""
        now = self._clock()
        with unit_of_work(self.engine) as session:
            if now >= self._next_lease:
                self._owned = claims.acquire_leases(
                    session=session,
                    owner=self.config.owner,
                    lease_s=self.config.lease_s,
                    max_printers=self.config.max_printers,
                )
                self._next_lease = now + min(self.config.lease_s / 3, 2.0)
            rows = dispatch_db.owned_printers(session=session, ids=self._owned)
            active = dispatch_db.active_jobs(session=session, printer_ids=self._owned)
        self._rows = {row.id or 0: row for row in rows}
        self._active = {job.printer_id: job for job in active}
        await self._sync(rows)
        await self._poll_due(poll_all)
        await self._reconcile()
        await self._connect_offline()
        self._store()
        if plan:
            await self._plan()

    async def wait_for_starts(self) -> None:
        """Wait until every start launched so far is confirmed or requeued."""
        while self._starts:
            await asyncio.gather(*list(self._starts), return_exceptions=True)

    async def close(self) -> None:
        """Stop following printers and give up the leases."""
        for task in list(self._starts):
            task.cancel()
        await asyncio.gather(*list(self._starts), return_exceptions=True)
        for tracked in list(self._tracked.values()):
            await tracked.close()
        self._tracked.clear()
        self._by_name.clear()
        try:
            with unit_of_work(self.engine) as session:
                claims.release_leases(session=session, owner=self.config.owner)
        except FabcoordError as error:
            log.warning("could not release leases: %s", error)

    def views(self) -> list[PrinterView]:
        """What each printer held by this dispatcher is doing (for the live view)."""
        result = []
        for printer_id, row in sorted(self._rows.items(), key=lambda item: item[1].name):
            tracked = self._tracked.get(printer_id)
            job = self._active.get(printer_id)
            result.append(
                PrinterView(
                    name=row.name,
                    state=tracked.state if tracked else row.state,
                    reachable=tracked.reachable if tracked else False,
                    job_id=job.id if job else None,
                    completion=tracked.completion if tracked else None,
                    time_left_s=tracked.time_left if tracked else None,
                    notice=(tracked.notice if tracked and tracked.notice else row.notice),
                )
            )
        return result

    # --- following printers ---------------------------------------------------------------

    async def _sync(self, rows: list[FarmPrinter]) -> None:
        wanted = {row.id or 0: row for row in rows}
        for printer_id in set(self._tracked) - set(wanted):
            tracked = self._tracked.pop(printer_id)
            self._by_name.pop(tracked.name, None)
            await tracked.close()
        for printer_id, row in wanted.items():
            if printer_id in self._tracked:
                continue
            tracked = Tracked(id=printer_id, name=row.name, url=row.url)
            try:
                api_key = read_api_key(row)
            except ApiKeyUnavailable as error:
                tracked.notice, tracked.state = str(error), "no API key"
            else:
                tracked.client = self._client_factory(row.url, api_key, self.config.timeout_s)
                if self.config.push:
                    tracked.follow(
                        self._subscription_factory(row.name, row.url, api_key, self._on_event)
                    )
            self._tracked[printer_id] = tracked
            self._by_name[row.name] = tracked

    def _on_event(self, event: PrinterEvent) -> None:
        tracked = self._by_name.get(event.key)
        if tracked is not None and tracked.apply_event(event):
            self._wake.set()

    async def _poll_due(self, poll_all: bool) -> None:
        now = self._clock()
        due = [
            t
            for t in self._tracked.values()
            if t.client is not None
            and not t.starting
            and (poll_all or now - t.last_poll >= self.config.poll_s)
        ]
        if due:
            await asyncio.gather(*(self._poll(t) for t in due))

    async def _poll(self, tracked: Tracked) -> None:
        assert tracked.client is not None
        async with self._limit:
            try:
                status = await tracked.client.job()
            except AuthenticationFailed:
                tracked.mark_unreachable("API key refused (403): check the printer's key")
            except OctoPrintError as error:
                tracked.mark_unreachable(f"unreachable: {error}")
            else:
                tracked.apply_job(status)
        tracked.last_poll = self._clock()

    # --- outcomes -------------------------------------------------------------------------

    async def _reconcile(self) -> None:
        for printer_id, job in list(self._active.items()):
            tracked = self._tracked.get(printer_id)
            if tracked is None or tracked.client is None or tracked.starting:
                continue
            verdict = self._judge(tracked, job)
            final = verdict in (Verdict.DONE, Verdict.FAILED, Verdict.NOT_STARTED)
            if final and tracked.done_file != job.file_name:
                await self._poll(tracked)  # confirm with a fresh REST reading before recording
                verdict = self._judge(tracked, job)
            await self._apply(tracked, job, verdict)

    def _judge(self, tracked: Tracked, job: dispatch_db.ActiveJob) -> Verdict:
        sent = job.start_sent_at
        settled = sent is not None and (utc_now() - sent).total_seconds() > self.config.confirm_s
        observation: Observation = tracked.observation(job.file_name)
        return judge(
            observation,
            expected_file=job.file_name,
            confirmed=job.status is JobState.PRINTING,
            start_sent=sent is not None,
            settled=settled,
        )

    async def _apply(self, tracked: Tracked, job: dispatch_db.ActiveJob, verdict: Verdict) -> None:
        actor = self.config.actor
        with unit_of_work(self.engine) as session:
            if verdict is Verdict.PRINTING and job.status is JobState.STARTING:
                claims.mark_printing(session=session, job_id=job.id, attempt=job.attempt)
            elif verdict is Verdict.DONE:
                accounting.record_done(
                    session=session, job_id=job.id, attempt=job.attempt, actor=actor
                )
            elif verdict is Verdict.FAILED:
                why = tracked.failure_reason(cancelled=job.cancel_requested)
                accounting.record_failure(
                    session=session,
                    job_id=job.id,
                    attempt=job.attempt,
                    completion=tracked.progress,
                    why=why,
                    actor=actor,
                )
            elif verdict is Verdict.NOT_STARTED:
                claims.requeue_not_started(
                    session=session,
                    job_id=job.id,
                    attempt=job.attempt,
                    why=f"the print did not start on {tracked.name} ({tracked.state})",
                )
        if verdict in (Verdict.DONE, Verdict.FAILED, Verdict.NOT_STARTED):
            tracked.forget_job()
            self._active.pop(tracked.id, None)
            self.stats[verdict.value] += 1
            log.info("job %s attempt %s on %s: %s", job.id, job.attempt, tracked.name, verdict)
        elif (
            verdict is Verdict.PRINTING
            and job.cancel_requested
            and tracked.client is not None
            and tracked.cancel_sent != job.id
        ):
            tracked.cancel_sent = job.id
            with contextlib.suppress(OctoPrintError):
                await tracked.client.cancel()

    async def _connect_offline(self) -> None:
        """Connect printers whose server is up but whose serial link is closed, once the bed is
        clear and no job is pending on them."""
        now = self._clock()
        for printer_id, tracked in self._tracked.items():
            row = self._rows.get(printer_id)
            if (
                row is None
                or tracked.client is None
                or not tracked.reachable
                or not is_down(tracked.state)
                or not (row.enabled and row.bed_clear)
                or printer_id in self._active
                or now - tracked.last_connect < self.config.retry_s
            ):
                continue
            tracked.last_connect = now
            try:
                await tracked.client.connect()
            except OctoPrintError as error:
                tracked.notice = f"could not connect the printer: {error}"
            tracked.last_poll = -math.inf

    def _store(self) -> None:
        changed = []
        for printer_id, tracked in self._tracked.items():
            observed = tracked.to_store(printer_id)
            if observed is not None:
                changed.append(observed)
        notices = {}
        for printer_id, tracked in self._tracked.items():
            row = self._rows.get(printer_id)
            if row is not None and tracked.notice and tracked.notice != row.notice:
                notices[printer_id] = tracked.notice
        if changed or notices:
            with unit_of_work(self.engine) as session:
                dispatch_db.store_observations(session=session, observed=changed)
                dispatch_db.store_notices(session=session, notices=notices)
            for observed in changed:
                self._tracked[observed.printer_id].stored()

    # --- new starts -----------------------------------------------------------------------

    def _idle(self, tracked: Tracked) -> bool:
        return (
            tracked.client is not None
            and tracked.reachable
            and is_idle(tracked.state)
            and not tracked.starting
            and self._clock() >= tracked.backoff_until
        )

    async def _plan(self) -> None:
        candidates = [
            row
            for printer_id, row in self._rows.items()
            if row.enabled
            and row.current_job_id is None
            and printer_id not in self._active
            and printer_id in self._tracked
            and self._idle(self._tracked[printer_id])
        ]
        if not candidates:
            return
        with unit_of_work(self.engine) as session:
            jobs = dispatch_db.queued_jobs(session=session)
            grams = dispatch_db.lot_balances(session=session, printers=candidates)
        slots = [
            dispatch_db.printer_slot(
                row, grams_left=grams.get(row.id or 0, 0), reachable=True, idle=True
            )
            for row in candidates
        ]
        plan = planning.plan_dispatch(jobs, slots)
        notices = planning.explain_idle(jobs, slots, plan)
        updates = {
            slot.id: notices.get(slot.id, "" if slot.bed_clear else self._rows[slot.id].notice)
            for slot in slots
        }
        updates = {pid: text for pid, text in updates.items() if text != self._rows[pid].notice}
        with unit_of_work(self.engine) as session:
            dispatch_db.store_notices(session=session, notices=updates)
            claimed = []
            for assignment in plan:
                job = claims.claim_job(
                    session=session,
                    job_id=assignment.job_id,
                    printer_id=assignment.printer_id,
                    owner=self.config.owner,
                )
                if job is not None:
                    claimed.append((assignment.printer_id, job.id or 0, job.attempts))
        for printer_id, notice in updates.items():
            self._rows[printer_id].notice = notice
        for printer_id, job_id, attempt in claimed:
            tracked = self._tracked[printer_id]
            tracked.starting = True
            now = self._clock()
            delay = max(0.0, self._next_start - now)
            self._next_start = now + delay + self.config.stagger_s
            task = asyncio.create_task(self._start(tracked, job_id, attempt, delay))
            self._starts.add(task)
            task.add_done_callback(self._starts.discard)

    async def _start(self, tracked: Tracked, job_id: int, attempt: int, delay: float) -> None:
        try:
            if delay > 0:
                await asyncio.sleep(delay)
            started = await start_job(self, tracked, job_id, attempt)
            self.stats["started" if started else "not_started"] += 1
            if not started:
                tracked.backoff_until = self._clock() + self.config.retry_s
        except FabcoordError as error:
            log.warning("start of job %s on %s failed: %s", job_id, tracked.name, error)
        finally:
            tracked.starting = False
            tracked.last_poll = -math.inf
            self._wake.set()
