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
from sqlmodel import Session

from fabcoord.db import unit_of_work
from fabcoord.errors import FabcoordError
from print_farm import claims, dispatch_db, outcomes, starting
from print_farm.attempts import DEFAULT_MAX_ATTEMPTS
from print_farm.errors import ApiKeyUnavailable, AuthenticationFailed, OctoPrintError
from print_farm.octoprint import OctoPrintClient
from print_farm.push import PrinterEvent, PushSubscription
from print_farm.registry import read_key
from print_farm.tracker import Tracked

log = logging.getLogger(__name__)
FULL_READ_S_PER_PRINTER = 0.001  # full reads: 1,000 printers every second, 10 every 10 ms
FULL_READ_MAX_S = 2.0
PASS_GAP_S_PER_PRINTER = 0.00005
PASS_GAP_MAX_S = 0.1

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
class DispatcherConfig:
    """How one dispatcher behaves.

    Attributes:
        owner: this dispatcher's id in printer leases (unique per running dispatcher).
        lease_s: how long a lease lasts without renewal (a dead dispatcher's printers are taken
            over after this).
        tick_s: pause between passes (planning, reconciling); events wake it earlier.
        poll_s: REST poll of each printer whose push socket is down (or without push).
        reconcile_s: REST poll of each printer whose push socket is live: the safety net and
            reconciliation (push events drive the state; polling a thousand printers every few
            seconds would cost more than all their events).
        stagger_s: minimum time between two print starts of this dispatcher.
        confirm_s: how long a start may take to show on the printer before the job is requeued.
        max_printers: the most printers this dispatcher drives (None: all it can lease).
        max_attempts: starts (failed or not started) before a job is held for an operator.
    """

    owner: str
    actor: str
    lease_s: float = 15.0
    tick_s: float = 0.25
    poll_s: float = 5.0
    reconcile_s: float = 30.0
    stagger_s: float = 0.25
    confirm_s: float = 6.0
    push: bool = True
    timeout_s: float = 5.0
    retry_s: float = 10.0
    max_parallel: int = 64
    max_printers: int | None = None
    max_attempts: int = DEFAULT_MAX_ATTEMPTS


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
        self.clock = clock
        self.tracked: dict[int, Tracked] = {}
        self._by_name: dict[str, Tracked] = {}
        self.rows: dict[int, dispatch_db.PrinterRow] = {}
        self.active: dict[int, dispatch_db.ActiveJob] = {}
        self.resting: dict[int, tuple[tuple[object, ...], float]] = {}  # idle, got no job
        self._owned: set[int] = set()
        self._touched: set[int] = set()  # printers whose rows this dispatcher wrote since a read
        # printer -> (job as read, tracker key) of a job judged printing, not judged again
        # until one of them changes
        self.printing: dict[int, tuple[object, ...]] = {}
        self._read_at = -math.inf
        self.last_start = -math.inf  # when the last start's staggered slot came
        self.stagger_lock = asyncio.Lock()
        self.starts: set[asyncio.Task[None]] = set()
        self.wake = asyncio.Event()
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
        leases: asyncio.Task[None] | None = None
        try:
            self.renew_leases()
            if once:
                await self.step(poll_all=True)
                await self.wait_for_starts()
                await self.step(poll_all=False, plan=False)
                return
            leases = asyncio.create_task(self._keep_leases(stop))
            while not stop.is_set():
                try:
                    await self.step()
                except FabcoordError as error:  # database busy or unreachable: try again
                    log.warning("dispatcher pass failed: %s", error)
                except Exception:  # a daemon keeps going; the next pass starts from the database
                    log.exception("dispatcher pass failed")
                if on_pass is not None:
                    on_pass()
                self.wake.clear()
                gap = self.pass_gap()
                if gap > 0:  # what happens meanwhile waits for the next pass
                    await asyncio.sleep(gap)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wait(stop), max(0.0, self.config.tick_s - gap))
        finally:
            if leases is not None:
                leases.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await leases
            await self.close()

    def renew_leases(self) -> None:
        """Renew this dispatcher's printer leases and take free or expired ones."""
        with unit_of_work(self.engine) as session:
            self._owned = claims.acquire_leases(
                session=session,
                owner=self.config.owner,
                lease_s=self.config.lease_s,
                max_printers=self.config.max_printers,
            )

    async def _keep_leases(self, stop: asyncio.Event) -> None:
        """Renew the leases on a timer of their own: a slow pass (a printer timing out, a long
        upload) must not let them expire."""
        every = min(self.config.lease_s / 3, 2.0)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
            if stop.is_set():
                return
            try:
                self.renew_leases()
            except FabcoordError as error:  # claims re-check the lease: nothing starts twice
                log.warning("could not renew leases: %s", error)

    async def _wait(self, stop: asyncio.Event) -> None:
        waiters = [asyncio.ensure_future(self.wake.wait()), asyncio.ensure_future(stop.wait())]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def step(self, *, poll_all: bool = False, plan: bool = True) -> None:
        """One pass: state, outcomes, then new starts (on the printers leased last)."""
        due = self.clock() - self._read_at >= self.full_read_every()
        self.refresh(full=poll_all or not plan or due)
        await self._sync(list(self.rows.values()))
        await self._poll_due(poll_all)
        await outcomes.reconcile(self)
        await outcomes.connect_offline(self)
        self._store()
        if plan:
            await starting.plan_starts(self)

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
        return min(most, len(self.rows) * seconds)

    def _touch_changed_free(self, session: Session) -> None:
        marks = dispatch_db.free_printer_marks(session=session, owner=self.config.owner)
        for printer_id, mark in marks.items():
            row = self.rows.get(printer_id)
            if row is None or row.current_job_id is not None or dispatch_db.free_marks(row) != mark:
                self._touched.add(printer_id)

    def touched(self, printer_id: int) -> None:
        """This dispatcher wrote the printer's row or job: the next pass reads them again."""
        self._touched.add(printer_id)

    def stale(self, printer_id: int) -> bool:
        """The printer's row or job was written since this pass read them: decide nothing on
        them until the next pass."""
        return printer_id in self._touched

    def refresh(self, *, full: bool) -> None:
        """Read the leased printers and their jobs: all of them (``full``: a lost lease, a
        cancel asked for), or only those this dispatcher wrote since the last read and those
        without a job an operator changed (``farm clear``, ``printers load|enable|disable``:
        one narrow query tells which). At a thousand printers, full reads on every pass woken
        by an event were most of the dispatcher's cost."""
        with unit_of_work(self.engine, read_only=True) as session:
            if not full:
                self._touch_changed_free(session)
                if not self._touched:
                    return
            touched = self._touched
            ids = None if full else touched
            rows = dispatch_db.owned_printers(session=session, owner=self.config.owner, ids=ids)
            active = dispatch_db.active_jobs(
                session=session, owner=self.config.owner, printer_ids=ids
            )
        self._touched = set()  # only once read: a failed read leaves them to the next pass
        if full:
            self.rows, self.active = {}, {}
            self._read_at = self.clock()
        for printer_id in touched if not full else ():
            self.rows.pop(printer_id, None)
            self.active.pop(printer_id, None)
        self.rows.update((row.id, row) for row in rows)
        self.active.update((job.printer_id, job) for job in active)

    async def wait_for_starts(self) -> None:
        """Wait until every start launched so far is confirmed or requeued."""
        while self.starts:
            await asyncio.gather(*list(self.starts), return_exceptions=True)

    async def close(self) -> None:
        """Let starts under way finish (briefly), stop following printers, give up the leases."""
        if self.starts:
            await asyncio.wait(list(self.starts), timeout=self.config.confirm_s + 2)
        for task in list(self.starts):
            task.cancel()
        await asyncio.gather(*list(self.starts), return_exceptions=True)
        for tracked in list(self.tracked.values()):
            await tracked.close()
        self.tracked.clear()
        self._by_name.clear()
        try:
            with unit_of_work(self.engine) as session:
                claims.release_leases(session=session, owner=self.config.owner)
        except FabcoordError as error:
            log.warning("could not release leases: %s", error)

    def views(self) -> list[PrinterView]:
        """What each printer held by this dispatcher is doing (for the live view)."""
        result = []
        for printer_id, row in sorted(self.rows.items(), key=lambda item: item[1].name):
            tracked = self.tracked.get(printer_id)
            job = self.active.get(printer_id)
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
            tracked = self.tracked.pop(printer_id)
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
        if tracked is not None and tracked.apply_event(event):
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

    def _store(self) -> None:
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
        if changed or notices:
            with unit_of_work(self.engine) as session:
                dispatch_db.store_observations(session=session, observed=changed)
                dispatch_db.replace_notices(session=session, notices=notices)
            for observed in changed:
                self.tracked[observed.printer_id].stored(now)
            for printer_id, (_, notice) in notices.items():
                self.tracked[printer_id].notice_stored = notice
