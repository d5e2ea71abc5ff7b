"""The dispatcher: keeps every printer it holds busy and records every print's end exactly once.

It only wires things together: printer leases (:mod:`print_farm.leases`, on a thread and timer of
their own), starts (:mod:`print_farm.starting`), outcomes (:mod:`print_farm.outcomes`), the
database gateway (:mod:`print_farm.db_gateway`: every database call runs on a worker thread, never
on the event loop, and waits at most ``config.wait_s``), OctoPrint's REST client and push
subscriptions. Push events drive state; a slower REST poll is the safety net; a printer that stops
answering is marked unreachable and keeps its job until it answers again. A pass that fails is
retried after 1 s, 2 s, … 60 s, and each distinct error is logged once with its count.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session

from fabcoord.db import bounded_engine, ping_when_idle
from print_farm import claims, dispatch_db
from print_farm.db_gateway import DbGateway
from print_farm.db_probe import ChangeProbe
from print_farm.dispatch_config import DispatcherConfig
from print_farm.errors import ApiKeyUnavailable, AuthenticationFailed, OctoPrintError
from print_farm.farm_state import FarmState
from print_farm.leases import LeaseKeeper
from print_farm.octoprint import OctoPrintClient
from print_farm.outcomes import FINAL, Outcomes, Record, in_lock_order, write_record
from print_farm.push import PrinterEvent, PushSubscription
from print_farm.registry import read_key
from print_farm.repeated_errors import RepeatedErrors
from print_farm.starting import PlanResult, Prepared, Starter, cancel_unowned
from print_farm.tracker import Tracked
from print_farm.tracking import Verdict, is_idle

__all__ = ["Dispatcher", "DispatcherConfig", "PrinterView", "new_event_loop"]

log = logging.getLogger(__name__)
FULL_READ_S_PER_PRINTER = 0.001  # full reads: 1,000 printers every second, 10 every 10 ms
FULL_READ_MAX_S = 2.0
PASS_GAP_S_PER_PRINTER = 0.00005
PASS_GAP_MAX_S = 0.1
IDLE_PING_S = 30.0  # a pooled connection unused this long is checked before use

ClientFactory = Callable[[str, str, float], OctoPrintClient]
SubscriptionFactory = Callable[[str, str, str, Callable[[PrinterEvent], None]], PushSubscription]


def _client(url: str, api_key: str, timeout: float) -> OctoPrintClient:
    return OctoPrintClient(url, api_key, timeout=timeout)


def _subscription(
    key: str, url: str, api_key: str, on_event: Callable[[PrinterEvent], None]
) -> PushSubscription:
    return PushSubscription(key, url, api_key, on_event=on_event)


def new_event_loop() -> asyncio.AbstractEventLoop:
    """The loop to run a dispatcher on: uvloop where it is installed (about half the CPU per
    socket event of asyncio's own loop, which matters with a socket per printer)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency except on Windows
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


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
    """See the module docstring; :meth:`run` until stopped, or once with ``once=True``.

    ``engine`` names the database; the dispatcher opens its own engine on it, every wait of
    which lasts at most ``config.wait_s`` (shorter than a lease).
    """

    def __init__(
        self,
        engine: Engine,
        config: DispatcherConfig,
        *,
        client_factory: ClientFactory = _client,
        subscription_factory: SubscriptionFactory = _subscription,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config, self.clock = config, clock
        pool = config.db_workers + 3  # the workers, the leases' thread, the probe, one spare
        # no ping before every unit of work (a round trip each, several per print on
        # PostgreSQL): only a connection idle for a while is checked; one that died meanwhile
        # fails its pass, which is retried (every write is one transaction). The pool hands out
        # the connection returned last (LIFO): the units of work, mostly one at a time, then
        # run on one connection, whose SQLite page cache another connection's commit would not
        # have emptied (a unit on a connection other than the last writer's reads its pages
        # again from the file)
        self.engine = bounded_engine(
            engine,
            config.wait_s,
            pool_size=pool,
            max_overflow=0,
            pool_pre_ping=False,
            pool_use_lifo=True,
        )
        if self.engine.dialect.name == "postgresql":
            ping_when_idle(self.engine, idle_s=IDLE_PING_S)
        self._client_factory, self._subscription_factory = client_factory, subscription_factory
        self.state = FarmState()
        self.wake = asyncio.Event()
        self.db = DbGateway(
            self.engine, workers=config.db_workers, max_waiting=config.db_max_waiting
        )
        self.leases = LeaseKeeper(
            self.engine,
            owner=config.owner,
            lease_s=config.lease_s,
            max_printers=config.max_printers,
            clock=clock,
        )
        self.starter = Starter(
            self.state,
            self.db,
            config,
            clock=clock,
            may_start=self.leases.fresh,
            wake=self.wake,
        )
        self.outcomes = Outcomes(self.state, self.db, config, clock=clock, poll=self.poll)
        self.errors = RepeatedErrors(
            "dispatcher pass", log, first_s=config.backoff_s, most_s=config.backoff_max_s
        )
        self._by_name: dict[str, Tracked] = {}
        self._probe = ChangeProbe(self.engine)
        self._mark: object | None = None  # the probe's mark when free printers were last read
        self._marks: dict[int, tuple[object, ...]] | None = None  # and what was read
        self._cancels: dict[int, int] | None = None
        self._freed = False  # a write of ours ended a job and claimed none since the last look
        self._read_at = self._passed_at = -math.inf
        self._limit = asyncio.Semaphore(config.max_parallel)

    # what tests, benchmarks and the live view read
    @property
    def rows(self) -> dict[int, dispatch_db.PrinterRow]:
        return self.state.rows

    @property
    def active(self) -> dict[int, dispatch_db.ActiveJob]:
        return self.state.active

    @property
    def tracked(self) -> dict[int, Tracked]:
        return self.state.tracked

    @property
    def stats(self) -> Counter[str]:
        return self.state.stats

    @property
    def starts(self) -> set[asyncio.Task[None]]:
        return self.starter.starts

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
        leases: asyncio.Task[None] | None = None
        try:
            await self.leases.renew()
            if once:
                await self.step(poll_all=True)
                await self.wait_for_starts()
                await self.step(poll_all=False, plan=False)
                return
            leases = asyncio.create_task(self.leases.keep(stop))
            quiet = False  # woken by the tick, not by an event: a pass only if one is due
            while not stop.is_set():
                pause = 0.0
                try:
                    await (self.step_if_due() if quiet else self.step())
                except Exception as error:  # a daemon keeps going; the next pass rereads
                    pause = self.errors.failed(error)
                else:
                    self.errors.succeeded()
                if on_pass is not None:
                    on_pass()
                self.wake.clear()
                quiet = False
                if pause > 0:  # failing: wait it out (events, leases and starts go on)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), pause)
                    continue
                gap = self.pass_gap()
                if gap > 0:  # what happens meanwhile waits for the next pass
                    await asyncio.sleep(gap)
                try:
                    await asyncio.wait_for(self._wait(stop), max(0.0, self.config.tick_s - gap))
                except TimeoutError:
                    quiet = True
        finally:
            if leases is not None:
                leases.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await leases
            await self.close()

    def renew_leases(self) -> None:
        """Renew this dispatcher's printer leases and take free or expired ones, on the calling
        thread (start-up and tests; :meth:`run` renews them on their own thread)."""
        self.leases.renew_now()

    async def _wait(self, stop: asyncio.Event) -> None:
        waiters = [asyncio.ensure_future(self.wake.wait()), asyncio.ensure_future(stop.wait())]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def step_if_due(self) -> None:
        """What a tick does when no event woke it: a pass (:meth:`step`) only if the last one
        is ``config.pass_s`` old (what is due by time: polls, re-plans, retries, the confirmed
        starts' writes) or :meth:`operator_changed` finds a change. Events (a print ended, a
        printer turned idle, a start that did not go through) wake a pass at once; an idle farm
        costs a look at the database's change probe a tick, not a pass."""
        if self.clock() - self._passed_at >= self.config.pass_s or (
            self._may_be_free() and await self.operator_changed()
        ):
            await self.step()

    def _may_be_free(self) -> bool:
        """Whether a printer of ours may be without a job, as last read or looked at or since
        a write of ours ended a job without claiming the next: if none is, an operator's change
        to a free printer cannot be missed, and a busy farm's ticks skip the look (a cancel
        asked for is then read by the next pass, at most ``pass_s`` away)."""
        return (
            self._freed
            or bool(self._marks)
            or self._marks is None
            or any(row.current_job_id is None for row in self.state.rows.values())
        )

    async def step(self, *, poll_all: bool = False, plan: bool = True) -> None:
        """One pass: state, outcomes, then new starts (on the printers leased last)."""
        self._passed_at = self.clock()
        due = self._passed_at - self._read_at >= self.full_read_every()
        await self.refresh(full=poll_all or not plan or due)
        await self._sync(list(self.state.rows.values()))
        await self._poll_due(poll_all)
        await self.outcomes.reconcile()
        await self.outcomes.connect_offline()
        # a printer whose print ended and that is idle already gets its next job in the same
        # write as the print's outcome
        prepared = self.starter.prepare(self.outcomes.ending()) if plan else None
        # a few idle printers' plan and claims ride in the pass's write, after its other writes
        if not await self._store(prepared) and prepared is not None:
            await self.starter.run_plan(prepared)

    def pass_gap(self) -> float:
        """The least time between two passes: a pass's work grows with the printers, and at a
        thousand printers print ends and starts wake one many times a second; 50 µs a printer
        (50 ms at 1,000, under a millisecond for a small farm), 0.1 s at most."""
        return min(self._per_printer(PASS_GAP_S_PER_PRINTER, PASS_GAP_MAX_S), self.config.tick_s)

    def full_read_every(self) -> float:
        """How often a pass reads every printer and job: on almost every pass for a small farm,
        every second for a thousand printers (one costs about 30 µs per printer: full reads then
        take a few percent of a core whatever the farm's size), every 2 s at most."""
        return self._per_printer(FULL_READ_S_PER_PRINTER, FULL_READ_MAX_S)

    def _per_printer(self, seconds: float, most: float) -> float:
        return min(most, len(self.state.rows) * seconds)

    def touched(self, printer_id: int) -> None:
        """This dispatcher wrote the printer's row or job: the next pass reads them again."""
        self.state.touch(printer_id)

    def stale(self, printer_id: int) -> bool:
        """The printer's row or job was written since this pass read them."""
        return self.state.stale(printer_id)

    async def refresh(self, *, full: bool) -> None:
        """Read the leased printers and their jobs: all of them (``full``: a lost lease), or
        only those this dispatcher wrote since the last read, those without a job an operator
        changed (``farm clear``, ``printers load|enable|disable``) and those whose cancel was
        asked for (:meth:`operator_changed` tells which). At a thousand printers, full reads on
        every pass woken by an event were most of the dispatcher's cost."""
        state, owner = self.state, self.config.owner
        if not full:
            await self.operator_changed()
            if not state.touched:
                return
        touched = set(state.touched)
        ids = None if full else touched
        rows, active = await self.db.read(lambda session: _read(session, owner, ids))
        state.touched -= touched  # only once read: a failed read leaves them to the next pass
        if full:
            state.rows, state.active = {}, {}
            self._read_at = self.clock()
        for printer_id in touched if not full else ():
            state.rows.pop(printer_id, None)
            state.active.pop(printer_id, None)
        state.rows.update((row.id, row) for row in rows)
        state.active.update((job.printer_id, job) for job in active)

    async def operator_changed(self) -> bool:
        """Whether a printer without a job changed since the last look (``farm clear``,
        ``printers load|enable|disable``, or a job's end just written) or a cancel was asked
        for: two narrow queries tell, and not even they when the database's change probe shows
        no commit since the last look. Printers whose row or job differs from the one read are
        read again on the next refresh."""
        state, owner = self.state, self.config.owner
        self._freed = False  # a job ended by a write from now on shows in this look or the next
        mark = await self.db.call(self._probe.mark) if self._probe.query else None
        if mark is not None and mark == self._mark:
            return False  # nothing committed since the last look (see print_farm.db_probe)
        marks, cancels = await self.db.read(
            lambda session: (
                dispatch_db.free_printer_marks(session=session, owner=owner),
                dispatch_db.cancels_asked(session=session, owner=owner),
            )
        )
        changed = marks != self._marks or cancels != self._cancels
        self._mark, self._marks, self._cancels = mark, marks, cancels
        for printer_id, free in marks.items():
            row = state.rows.get(printer_id)
            if row is None or row.current_job_id is not None or dispatch_db.free_marks(row) != free:
                state.touch(printer_id)
                changed = True  # what the pass read differs from the database
        for job_id, printer_id in cancels.items():
            job = state.active.get(printer_id)
            if job is None or job.id != job_id or not job.cancel_requested:
                state.touch(printer_id)
                changed = True
        return changed

    async def wait_for_starts(self) -> None:
        """Wait until every start launched so far is confirmed or requeued."""
        await self.starter.wait()

    async def close(self) -> None:
        """Let starts under way finish (briefly), stop following printers, give up the leases."""
        await self.starter.close(self.config.confirm_s + 2)
        if self.state.confirmed:  # starts confirmed since the last pass: written now
            try:
                await self._store()
            except Exception as error:  # the next dispatcher judges them (start_sent_at is set)
                log.warning("could not record confirmed starts: %s", error)
        # all at once: one by one, a thousand push sockets took most of a minute to close
        await asyncio.gather(*(tracked.close() for tracked in self.state.tracked.values()))
        self.state.tracked.clear()
        self._by_name.clear()
        try:
            await self.leases.release()
        except Exception as error:  # the leases expire by themselves
            log.warning("could not release leases: %s", error)
        await asyncio.to_thread(self._close_threads)

    def _close_threads(self) -> None:  # waits for calls still running: not on the loop
        self.leases.close()
        self.db.close()
        self._probe.close()
        self.engine.dispose()

    def views(self) -> list[PrinterView]:
        """What each printer held by this dispatcher is doing (for the live view)."""
        result = []
        for printer_id, row in sorted(self.state.rows.items(), key=lambda item: item[1].name):
            tracked = self.state.tracked.get(printer_id)
            job = self.state.active.get(printer_id)
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

    async def _sync(self, rows: list[dispatch_db.PrinterRow]) -> None:
        wanted = {row.id: row for row in rows}
        for printer_id in set(self.tracked) - set(wanted):
            tracked = self.state.tracked.pop(printer_id)
            self._by_name.pop(tracked.name, None)
            await tracked.close()
        for printer_id, row in wanted.items():
            if printer_id in self.tracked:
                continue
            tracked = Tracked(id=printer_id, name=row.name, url=row.url)
            try:
                api_key = read_key(env=row.api_key_env, path=row.api_key_file, owner=row.name)
            except ApiKeyUnavailable as error:
                tracked.notice, tracked.state = str(error), "no API key"
            else:
                tracked.client = self._client_factory(row.url, api_key, self.config.timeout_s)
                if self.config.push:
                    tracked.follow(
                        self._subscription_factory(row.name, row.url, api_key, self._on_event)
                    )
            self.tracked[printer_id] = tracked
            self._by_name[row.name] = tracked

    def _on_event(self, event: PrinterEvent) -> None:
        tracked = self._by_name.get(event.key)
        if tracked is None:
            return
        was_idle = is_idle(tracked.state)
        wake = tracked.apply_event(event)
        if not was_idle and is_idle(tracked.state):
            wake = True  # a print's end and the printer's next job, in one pass
        elif event.kind == "PrintDone" and not is_idle(tracked.state):
            # still finishing: the pass waits for the printer to turn idle (or ``pass_s``),
            # to write the print's outcome and claim the printer's next job in one write
            wake = False
        if wake:
            self.wake.set()

    async def _poll_due(self, poll_all: bool) -> None:
        now = self.clock()
        due = [
            t
            for t in self.tracked.values()
            if t.client is not None
            and not t.starting
            and (poll_all or now - t.last_poll >= self.poll_period(t))
        ]
        if due:
            await asyncio.gather(*(self.poll(t) for t in due))

    def poll_period(self, tracked: Tracked) -> float:
        """``reconcile_s`` while the printer's push socket is live and its last REST reading
        answered, else ``poll_s``; each printer
        off by its own fixed share (±20 %) so that a farm's polls spread out over time."""
        live = (  # a failed REST reading is checked again soon, push or not
            tracked.subscription is not None
            and tracked.subscription.reachable
            and tracked.reachable
        )
        period = self.config.reconcile_s if live else self.config.poll_s
        return period * tracked.poll_spread

    async def poll(self, tracked: Tracked) -> None:
        """Read the printer's job state over REST (the safety net, and a check before recording)."""
        assert tracked.client is not None
        async with self._limit:
            try:
                status = await tracked.client.job()
            except AuthenticationFailed:
                tracked.mark_unreachable("API key refused (403): check the printer's key")
            except OctoPrintError as error:
                tracked.mark_unreachable(f"unreachable: {error}")
            except Exception as error:  # one printer's surprise must not stop the whole farm
                log.exception("poll of %s failed", tracked.name)
                tracked.mark_unreachable(f"unreachable: unexpected {type(error).__name__}")
            else:
                tracked.apply_job(status)
        tracked.last_poll = self.clock()

    async def _store(self, prepared: Prepared | None = None) -> bool:
        """The pass's writes, in one transaction: confirmed starts, verdicts, what was observed
        of each printer and the trackers' notices; then ``prepared``'s plan and claims, if it
        has them (:attr:`Prepared.work`). Returns whether ``prepared`` was run: not when there
        was nothing else to write (its own transaction then)."""
        state = self.state
        confirmed, state.confirmed = state.confirmed, []
        starts = {(job_id, attempt) for _, job_id, attempt, _ in confirmed}
        records = [  # a confirmed start's ``printing`` verdict is the confirmation's write
            record
            for record in self.outcomes.take()
            if record.verdict is not Verdict.PRINTING
            or (record.job.id, record.job.attempt) not in starts
        ]
        changed = []
        now = self.clock()
        for printer_id, tracked in self.tracked.items():
            observed = tracked.to_store(printer_id, now)
            if observed is not None:
                changed.append(observed)
        # the tracker's own notices (unreachable, key refused): written when they appear, taken
        # back when they go unless another notice (bed to clear, spool to change) replaced them
        notices = {
            printer_id: (tracked.notice_stored or "", tracked.notice)
            for printer_id, tracked in self.tracked.items()
            if tracked.notice != tracked.notice_stored
        }
        if not (changed or notices or records or confirmed):
            return False
        config = self.config
        work = prepared.work if prepared is not None else None
        also = (
            [row.id for row in prepared.candidates] + list(prepared.ending)
            if work is not None and prepared
            else []
        )

        def store(session: Session) -> tuple[list[tuple[int, int, int]], PlanResult | None]:
            unowned = _store(session, confirmed, records, changed, notices, config, also)
            # _store locked the candidates' printers with its own when there were several
            return unowned, (work(session, True) if work is not None else None)

        try:
            unowned, planned = await self.db.write(store)
        except BaseException:  # written by a later pass (a verdict judged again meanwhile is
            state.confirmed[:0] = confirmed  # refused then: each attempt is recorded once)
            self.outcomes.pending[:0] = records
            raise
        claimed = {printer_id for printer_id, *_ in planned[1]} if planned is not None else set()
        if any(r.verdict in FINAL and r.printer_id not in claimed for r in records):
            self._freed = True
        for observed in changed:
            if (done := self.tracked.get(observed.printer_id)) is not None:
                done.stored(now)
        for printer_id, (_, notice) in notices.items():
            if (noted := self.tracked.get(printer_id)) is not None:
                noted.notice_stored = notice
        if planned is not None and prepared is not None:
            self.starter.launch(planned, prepared)
        for printer_id, job_id, attempt in unowned:
            if (started := self.tracked.get(printer_id)) is not None:
                await cancel_unowned(started, job_id, attempt)
        return work is not None


# --- database work (on the gateway's threads: plain values in, plain values out) ----------


def _read(
    session: Session, owner: str, ids: set[int] | None
) -> tuple[list[dispatch_db.PrinterRow], list[dispatch_db.ActiveJob]]:
    rows = dispatch_db.owned_printers(session=session, owner=owner, ids=ids)
    active = dispatch_db.active_jobs(session=session, owner=owner, printer_ids=ids)
    return rows, active


def _store(
    session: Session,
    confirmed: list[tuple[int, int, int, datetime]],
    records: list[Record],
    observed: list[dispatch_db.Observed],
    notices: dict[int, tuple[str, str]],
    config: DispatcherConfig,
    planned: Collection[int] = (),
) -> list[tuple[int, int, int]]:
    """A pass's writes: when they touch several printers, the printers' rows are locked in id
    order first (as lease renewal locks them); the verdicts are written in lock order
    (:func:`in_lock_order`: several fablabs' frame stocks in one order for every writer); each
    job is checked under its row lock (exactly once per attempt). Returns the confirmed starts
    whose attempt is no longer ours. ``planned``: printers whose plan and claims the caller
    writes next in this transaction, locked with the others (before any ledger write)."""
    printer_ids = {p for p, *_ in confirmed} | {r.printer_id for r in records}
    printer_ids |= {o.printer_id for o in observed} | set(notices)
    printer_ids |= set(planned)
    locked = len(printer_ids) > 1  # one printer: its rows are locked as they are written
    if locked:
        dispatch_db.lock_printers(session=session, printer_ids=printer_ids)
    unowned = [
        (printer_id, job_id, attempt)
        for printer_id, job_id, attempt, at in confirmed
        if not claims.mark_printing(session=session, job_id=job_id, attempt=attempt, at=at)
    ]
    for record in in_lock_order(session, records):
        write_record(session, record, config)
    if records:
        session.flush()  # the verdicts' row changes first: what was observed comes after them
    dispatch_db.store_observations(session=session, observed=observed, locked=locked)
    dispatch_db.replace_notices(session=session, notices=notices)
    return unowned
