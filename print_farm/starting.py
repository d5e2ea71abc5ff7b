"""Starting one claimed job on one printer, and making sure it really started.

Steps: upload the design's file if the printer lacks it; select it (which resets the job's
progress); record ``start_sent_at``; send ``start``; then watch the printer (push events and REST)
until it shows our file printing, or finished (the move to ``printing`` is then written with the
next pass's other writes: :attr:`FarmState.confirmed <print_farm.farm_state.FarmState.confirmed>`). A start that does not show within ``confirm_s`` puts
the job back in the queue (nothing posted: no filament was used). Nothing starts while the leases
are not :meth:`fresh <print_farm.leases.LeaseKeeper.fresh>`: checked before ``start_sent_at`` is
written and again once that write returns, right before ``start``; the write itself is refused
unless the printer's lease is still this dispatcher's and unexpired (a write can wait on a lock).

A :class:`Starter` needs the farm's state, the database gateway, the config, the clock, whether
the leases are fresh and the event that wakes a pass: nothing else of the dispatcher.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

from sqlmodel import Session

from fabcoord.errors import FabcoordError
from fabcoord.ledger.posting import utc_now
from print_farm import claims, dispatch_db, planning
from print_farm.db_gateway import DbGateway
from print_farm.dispatch_config import DispatcherConfig
from print_farm.errors import FileMissing, LeaseLost, OctoPrintError, PrinterBusy
from print_farm.farm_state import FarmState
from print_farm.tracker import Tracked
from print_farm.tracking import is_active, is_down, is_idle

CONFIRM_POLL_S = 0.2
REPLAN_S = 1.0
# idle printers planned at most for the plan to be read in the claims' write transaction: a few
# candidates read a short queue; many read a long one, which holds no write lock outside it
PLAN_IN_CLAIM_MAX = 16
log = logging.getLogger(__name__)


PlanResult = tuple[
    tuple[list[planning.PrinterSlot], list[planning.Assignment], dict[int, str]],
    list[tuple[int, int, int, str]],
]


@dataclass(frozen=True)
class Prepared:
    """Idle printers to plan (see :meth:`Starter.prepare`); ``work``: their plan and claims in
    one write transaction (a few printers), or None (many: read first, then claimed). Its second
    argument: whether the transaction already holds the candidates' printer rows (a pass that
    locked them with its own writes), so they are not locked again."""

    candidates: list[dispatch_db.PrinterRow]
    now: float
    work: Callable[[Session, bool], PlanResult] | None
    ending: tuple[int, ...] = ()


def _plan_key(row: dispatch_db.PrinterRow) -> tuple[object, ...]:
    """What, on a printer's row, can make a printer that got no job worth planning again."""
    return (row.enabled, row.bed_clear, row.loaded_material, row.loaded_lot, row.current_job_id)


class Starter:
    """Plans queued jobs onto idle printers and runs their starts (see the module docstring)."""

    def __init__(
        self,
        state: FarmState,
        db: DbGateway,
        config: DispatcherConfig,
        *,
        clock: Callable[[], float],
        may_start: Callable[[], bool],
        wake: asyncio.Event,
    ) -> None:
        self.state, self.db, self.config, self.clock = state, db, config, clock
        self.may_start, self.wake = may_start, wake
        self.last_start = -math.inf  # when the last start's staggered slot came
        self.stagger_lock = asyncio.Lock()
        self.starts: set[asyncio.Task[None]] = set()

    async def wait(self) -> None:
        """Wait until every start launched so far is confirmed or requeued."""
        while self.starts:
            await asyncio.gather(*list(self.starts), return_exceptions=True)

    async def close(self, timeout: float) -> None:
        """Let starts under way finish (at most ``timeout`` seconds), then cancel the rest."""
        if self.starts:
            await asyncio.wait(list(self.starts), timeout=timeout)
        for task in list(self.starts):
            task.cancel()
        await asyncio.gather(*list(self.starts), return_exceptions=True)

    # --- planning -------------------------------------------------------------------------

    def _resting(self, printer_id: int, row: dispatch_db.PrinterRow, now: float) -> bool:
        rest = self.state.resting.get(printer_id)
        if rest is None:
            return False
        key, until = rest
        if now < until and key == _plan_key(row):
            return True
        del self.state.resting[printer_id]
        return False

    def _idle(self, tracked: Tracked) -> bool:
        return (
            tracked.client is not None
            and tracked.reachable
            and is_idle(tracked.state)
            and not tracked.starting
            and self.clock() >= tracked.backoff_until
        )

    async def plan(self) -> None:
        """Plan the queued jobs onto idle printers, claim them and launch staggered starts.

        An idle printer that got no job is planned again after ``REPLAN_S`` or as soon as its
        row changes (bed cleared, spool loaded): an idle farm costs the database little.
        Nothing is planned while the leases are not fresh.
        """
        prepared = self.prepare()
        if prepared is not None:
            await self.run_plan(prepared)

    def prepare(self, ending: Collection[int] = ()) -> Prepared | None:
        """The idle printers to plan (None: none). At most ``PLAN_IN_CLAIM_MAX`` of them are
        planned and claimed in one write transaction, :attr:`Prepared.work`, which a pass may
        run after its other writes (then :meth:`launch` its result).

        ``ending``: printers whose job's end the pass writes first (a final verdict); those
        already idle are planned too, on their rows as read in that transaction after the
        verdicts (:attr:`Prepared.ending`): a print's outcome and the printer's next job in one
        write, not a pass each."""
        now = self.clock()
        candidates = self._candidates(now)
        ending = self._ending(ending, candidates) if len(candidates) < PLAN_IN_CLAIM_MAX else ()
        if not candidates and not ending:
            return None
        if len(candidates) > PLAN_IN_CLAIM_MAX:
            return Prepared(candidates, now, None)
        for row in candidates:  # a claim writes the printer: read again before judging it
            self.state.touch(row.id)
        shown = {row.id: row.notice for row in candidates}
        owner = self.config.owner
        ending = ending[: PLAN_IN_CLAIM_MAX - len(candidates)]
        return Prepared(
            candidates,
            now,
            lambda session, locked: _plan_and_claim(
                session, candidates, shown, owner, locked, ending
            ),
            ending,
        )

    def _ending(
        self, ending: Collection[int], candidates: list[dispatch_db.PrinterRow]
    ) -> tuple[int, ...]:
        if not ending or not self.may_start():
            return ()
        state, planned = self.state, {row.id for row in candidates}
        return tuple(
            sorted(
                printer_id
                for printer_id in ending
                if printer_id not in planned
                and printer_id in state.rows
                and state.rows[printer_id].enabled
                and printer_id in state.tracked
                and self._idle(state.tracked[printer_id])
            )
        )

    async def run_plan(self, prepared: Prepared) -> None:
        """Plan, claim and start ``prepared`` (:meth:`prepare`) in its own transactions."""
        if prepared.work is not None:  # one transaction, not a read and a write
            work = prepared.work
            self.launch(await self.db.write(lambda session: work(session, False)), prepared)
            return
        # many: the plan is read outside the write (a large queue read holds no lock)
        state, now, candidates = self.state, prepared.now, prepared.candidates
        owner = self.config.owner
        shown = {row.id: row.notice for row in candidates}
        slots, plan, waiting = await self.db.read(lambda session: _plan(session, candidates))
        updates = _notice_updates(slots, plan, waiting, shown)
        self._rest(slots, plan, now)
        if not plan and not updates:
            return
        if plan and not self.may_start():  # the leases went stale while the plan was read
            plan = []
        for assignment in plan:
            state.touch(assignment.printer_id)
        claimed = await self.db.write(lambda session: _claim(session, updates, plan, owner))
        self._started(updates, claimed)

    def launch(self, result: PlanResult, prepared: Prepared) -> None:
        """Record what :attr:`Prepared.work` planned and start what it claimed."""
        planned, claimed = result
        slots, plan, updates = planned
        self._rest(slots, plan, prepared.now)
        self._started(updates, claimed)

    def _candidates(self, now: float) -> list[dispatch_db.PrinterRow]:
        if not self.may_start():
            return []
        state = self.state
        return [
            row
            for printer_id, row in state.rows.items()
            if row.enabled
            and row.current_job_id is None
            and printer_id not in state.active
            and printer_id in state.tracked
            and not state.stale(printer_id)
            and self._idle(state.tracked[printer_id])
            and not self._resting(printer_id, row, now)
        ]

    def _started(self, updates: dict[int, str], claimed: list[tuple[int, int, int, str]]) -> None:
        state = self.state
        for printer_id, notice in updates.items():
            if printer_id in state.rows:
                state.rows[printer_id].notice = notice
        for printer_id, job_id, attempt, name in claimed:
            tracked = state.tracked.get(printer_id)
            if tracked is None:  # no longer followed: tracking requeues the job it left
                continue
            tracked.starting = True
            task = asyncio.create_task(self._start(tracked, job_id, attempt, name))
            self.starts.add(task)
            task.add_done_callback(self.starts.discard)

    def _rest(
        self, slots: list[planning.PrinterSlot], plan: list[planning.Assignment], now: float
    ) -> None:
        """Idle printers that got no job are planned again after ``REPLAN_S`` (or a change)."""
        state = self.state
        for printer_id in {slot.id for slot in slots} - {a.printer_id for a in plan}:
            if printer_id in state.rows:
                state.resting[printer_id] = (_plan_key(state.rows[printer_id]), now + REPLAN_S)

    # --- one start ------------------------------------------------------------------------

    async def _start(self, tracked: Tracked, job_id: int, attempt: int, name: str) -> None:
        started = False
        try:
            started = await self.start_job(tracked, job_id, attempt, name)
            self.state.stats["started" if started else "not_started"] += 1
        except FabcoordError as error:
            log.warning("start of job %s on %s failed: %s", job_id, tracked.name, error)
        except Exception:  # the job stays starting: tracking judges it on a later pass
            log.exception("start of job %s on %s failed", job_id, tracked.name)
        finally:
            tracked.starting = False
            self.state.touch(tracked.id)
            if not started:  # a confirmed start has just read the printer; else read it now
                tracked.last_poll = -math.inf
                self.wake.set()  # to plan the printer again or judge the start soon
            # a confirmed start is written ``printing`` by the next pass, at most ``pass_s`` away:
            # woken for it, a busy farm made a pass (a read and a write) per start as well as per
            # print end; unwoken, it rides with the next print end's writes

    async def start_job(self, tracked: Tracked, job_id: int, attempt: int, name: str) -> bool:
        """Start the job (whose design's file is ``name``); True when the printer confirmed it
        (the next pass writes the job ``printing``)."""
        client = tracked.client
        assert client is not None
        try:
            if tracked.files is None:
                tracked.files = await client.list_files()
            if name not in tracked.files:
                _, content = await self.db.read(
                    lambda session: dispatch_db.job_file(session=session, job_id=job_id)
                )
                await client.upload(name, content)
                tracked.files.add(name)
            await client.select(name)
        except OctoPrintError as error:
            if isinstance(error, FileMissing):
                tracked.files = None
            # busy: still finishing the last print, try again soon; else leave it a while
            pause = 1.0 if isinstance(error, PrinterBusy) else self.config.retry_s
            return await self._requeue(tracked, job_id, attempt, f"could not start: {error}", pause)
        stale = "leases could not be renewed in time: not started"
        async with self.stagger_lock:  # uploads run in parallel; the heating starts are spaced
            await self._stagger()
            why, sent = stale, None
            if self.may_start():  # else leases not renewed in time: the printer may not be ours
                owner = self.config.owner
                slot = utc_now()  # the slot's time, not the one after a wait for the row lock
                try:  # refused unless the printer's lease is still ours, checked as it is written
                    sent = await self.db.write(
                        lambda session: claims.mark_start_sent(
                            session=session, job_id=job_id, attempt=attempt, owner=owner, at=slot
                        )
                    )
                except LeaseLost as error:
                    why = f"{error}: not started"
                self.last_start = self.clock()  # the next start counts from this one
        if sent is None:
            return await self._requeue(tracked, job_id, attempt, why, self.config.retry_s)
        if not sent:  # cancelled by an operator meanwhile (or the attempt is no longer ours)
            why = f"job {job_id} cancelled before it started"
            return await self._requeue(tracked, job_id, attempt, why, 0.0)
        if not self.may_start():  # the leases went stale while the write waited
            return await self._requeue(tracked, job_id, attempt, stale, self.config.retry_s)
        tracked.begin_start(time.time())  # from here to ``start`` nothing awaits
        problem = ""
        try:
            await client.start(verify=False)  # the watch below decides whether it started
        except OctoPrintError as error:
            problem = str(error)
        confirmed = await self._confirm(tracked, name)
        if confirmed:  # ``printing`` is written with the next pass's writes, which cancel the
            # print if the attempt is no longer ours (requeued by another dispatcher meanwhile)
            self.state.confirmed.append((tracked.id, job_id, attempt, utc_now()))
            return True
        if confirmed is None:
            # ``start`` went out but the printer has not answered since: it may be printing. The
            # job stays ``starting`` with its start recorded; tracking judges it once it answers.
            tracked.notice = f"start of job {job_id} not confirmed: {tracked.name} is not answering"
            log.warning("job %s on %s: %s", job_id, tracked.name, tracked.notice)
            return False
        why = problem or f"the print did not start on {tracked.name} ({tracked.state})"
        return await self._requeue(tracked, job_id, attempt, why, self.config.retry_s)

    async def _stagger(self) -> None:
        """Wait (holding ``stagger_lock``) until ``stagger_s`` after the last start really went
        out: a sleep can end late, or the database make a start wait; the next start then
        counts from that late one, never from its plan."""
        delay = self.last_start + self.config.stagger_s - self.clock()
        if delay > 0:
            await asyncio.sleep(delay)

    async def _confirm(self, tracked: Tracked, name: str) -> bool | None:
        """Watch until our file prints (or already finished), the printer goes down, or time is
        up.

        Push events answer first; a REST reading is taken every 0.2 s without push, every 1 s
        with it. Returns None when time is up and the printer never answered since ``start``:
        not knowing is not the same as "it did not start", and must not requeue a print that
        may be running.
        """
        answered = False
        client = tracked.client
        assert client is not None
        pushed = tracked.subscription is not None
        rest_every = 1.0 if pushed else CONFIRM_POLL_S
        deadline = time.monotonic() + self.config.confirm_s
        last_rest = time.monotonic() if pushed else -math.inf
        while True:
            if tracked.done_file == name or (is_active(tracked.state) and tracked.file == name):
                return True
            if time.monotonic() - last_rest >= rest_every:
                last_rest = time.monotonic()
                try:
                    status = await client.job()
                except OctoPrintError:
                    status = None
                if status is not None:
                    answered = True
                    tracked.apply_job(status)
                    if status.file_name == name and (
                        status.is_printing or (status.finished and tracked.done_file is None)
                    ):
                        return True
                    if is_down(status.state):
                        return False
            if time.monotonic() >= deadline:
                return False if answered else None
            await tracked.wait_change(CONFIRM_POLL_S)

    async def _requeue(
        self, tracked: Tracked, job_id: int, attempt: int, why: str, pause: float
    ) -> bool:
        tracked.backoff_until = self.clock() + pause
        log.info("job %s attempt %s on %s requeued: %s", job_id, attempt, tracked.name, why)
        most = self.config.max_attempts
        requeued = await self.db.write(
            lambda session: claims.requeue_not_started(
                session=session, job_id=job_id, attempt=attempt, why=why, max_attempts=most
            )
        )
        if requeued:
            tracked.notice = why[:300]
        return False


# --- database work (on the gateway's threads: plain values in, plain values out) ----------


def _plan(
    session: Session, candidates: list[dispatch_db.PrinterRow]
) -> tuple[list[planning.PrinterSlot], list[planning.Assignment], list[planning.QueuedJob]]:
    grams = dispatch_db.lot_balances(session=session, printers=candidates)
    slots = [
        dispatch_db.printer_slot(
            row, grams_left=grams.get(row.id or 0, 0), reachable=True, idle=True
        )
        for row in candidates
    ]
    loaded = [slot for slot in slots if slot.material]
    jobs = (
        dispatch_db.queued_jobs(
            session=session,
            limit=20 + 10 * len(loaded),
            materials={slot.material for slot in loaded},
            fablab_ids={slot.fablab_id for slot in loaded},
            max_grams=max(slot.grams_left for slot in loaded),
        )
        if loaded
        else []
    )
    plan = planning.plan_dispatch(jobs, slots)
    unassigned = {slot.id for slot in slots} - {a.printer_id for a in plan}
    # what the operator should do: read from the whole queue, only for printers left idle
    waiting = dispatch_db.queued_jobs(session=session, limit=200) if unassigned else []
    return slots, plan, waiting


def _notice_updates(
    slots: list[planning.PrinterSlot],
    plan: list[planning.Assignment],
    waiting: list[planning.QueuedJob],
    shown: dict[int, str],
) -> dict[int, str]:
    """The printers' notices that change: what the operator should do for each printer left
    idle (``shown``: each printer's notice as read)."""
    notices = planning.explain_idle(waiting, slots, plan)
    updates = {
        slot.id: notices.get(slot.id, "" if slot.bed_clear else shown[slot.id]) for slot in slots
    }
    return {pid: text for pid, text in updates.items() if text != shown[pid]}


def _plan_and_claim(
    session: Session,
    candidates: list[dispatch_db.PrinterRow],
    shown: dict[int, str],
    owner: str,
    locked: bool = False,
    ending: Collection[int] = (),
) -> PlanResult:
    """:func:`_plan` and :func:`_claim` in one transaction (a few candidates: the plan's reads
    are short, and each claim checks again under its row locks what the plan read).

    ``ending``: printers whose job's end this transaction wrote before; those still ours and
    free once read here (their rows as the verdicts left them) are candidates too."""
    if ending:
        freed = [
            row
            for row in dispatch_db.owned_printers(session=session, owner=owner, ids=ending)
            if row.enabled and row.current_job_id is None
        ]
        candidates = [*candidates, *freed]
        shown = {**shown, **{row.id: row.notice for row in freed}}
        if not candidates:
            return ([], [], {}), []
    slots, plan, waiting = _plan(session, candidates)
    updates = _notice_updates(slots, plan, waiting, shown)
    # the balances the plan read, in this transaction: the claims' spool checks reuse them where
    # the write lock held since they were read guarantees them (SQLite; see claim_for_start)
    by_id = {row.id: row for row in candidates}
    balances = {
        claims.spool_key(by_id[slot.id]): slot.grams_left for slot in slots if slot.material
    }
    claimed = _claim(session, updates, plan, owner, balances, locked) if plan or updates else []
    return (slots, plan, updates), claimed


def _claim(
    session: Session,
    notices: dict[int, str],
    plan: list[planning.Assignment],
    owner: str,
    balances_read: dict[claims.SpoolKey, int] | None = None,
    locked: bool = False,
) -> list[tuple[int, int, int, str]]:
    """Write the notices and claim the plan's jobs; printers touched are locked in id order
    first when there are several (the plan's order is by filament, not id: lease renewal, which
    locks in id order, could otherwise deadlock with it on PostgreSQL), unless ``locked``: the
    transaction holds them already."""
    touched = set(notices) | {assignment.printer_id for assignment in plan}
    if len(touched) > 1 and not locked:
        dispatch_db.lock_printers(session=session, printer_ids=touched)
    dispatch_db.store_notices(session=session, notices=notices)
    claimed = []
    for assignment in plan:
        started = claims.claim_for_start(
            session=session,
            job_id=assignment.job_id,
            printer_id=assignment.printer_id,
            owner=owner,
            balances_read=balances_read,
        )
        if started is not None:
            attempt, name = started
            claimed.append((assignment.printer_id, assignment.job_id, attempt, name))
    return claimed


async def cancel_unowned(tracked: Tracked, job_id: int, attempt: int) -> None:
    """Cancel a print whose attempt is no longer ours: nothing would record it."""
    log.warning("job %s attempt %s on %s: no longer ours, cancelled", job_id, attempt, tracked.name)
    assert tracked.client is not None
    try:
        await tracked.client.cancel()
    except OctoPrintError as error:
        tracked.notice = f"cancel the print of job {job_id} (no longer tracked): {error}"[:300]
