"""How one dispatcher behaves (the settings every part of the dispatcher reads)."""

from __future__ import annotations

from dataclasses import dataclass

from print_farm.attempts import DEFAULT_MAX_ATTEMPTS


@dataclass(frozen=True)
class DispatcherConfig:
    """How one dispatcher behaves.

    Attributes:
        owner: this dispatcher's id in printer leases (unique per running dispatcher).
        lease_s: how long a lease lasts without renewal (a dead dispatcher's printers are taken
            over after this).
        tick_s: how often operator changes to free printers (bed cleared, spool loaded, printer
            enabled) are looked for between passes: one narrow query, a pass only when it finds
            one; events (a print ended, a printer's state changed) wake a pass at once.
        pass_s: the longest time between two passes: what is only due by time (REST polls,
            re-plans of idle printers, retries, cancels asked for, confirmed starts' writes).
        poll_s: REST poll of each printer whose push socket is down (or without push).
        reconcile_s: REST poll of each printer whose push socket is live: the safety net and
            reconciliation (push events drive the state; polling a thousand printers every few
            seconds would cost more than all their events).
        stagger_s: minimum time between two print starts of this dispatcher.
        confirm_s: how long a start may take to show on the printer before the job is requeued.
        max_printers: the most printers this dispatcher drives (None: all it can lease).
        max_attempts: starts (failed or not started) before a job is held for an operator.
        db_wait_s: the longest any database wait may last (lock, statement, connection); None:
            a quarter of the lease, so that a renewal that waits its longest still leaves time.
        db_workers: threads running the passes' and starts' database calls.
        db_max_waiting: database calls queued for those threads at most; more wait their turn
            on the event loop (without blocking it).
        backoff_s, backoff_max_s: the first and the longest pause after a failed pass (it
            doubles at each failure in a row).
    """

    owner: str
    actor: str
    lease_s: float = 15.0
    tick_s: float = 0.25
    pass_s: float = 1.0
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
    db_wait_s: float | None = None
    db_workers: int = 2
    db_max_waiting: int = 32
    backoff_s: float = 1.0
    backoff_max_s: float = 60.0

    @property
    def wait_s(self) -> float:
        """The bound on every database wait, always shorter than the lease."""
        bound = self.lease_s / 4
        return bound if self.db_wait_s is None else min(self.db_wait_s, bound)
