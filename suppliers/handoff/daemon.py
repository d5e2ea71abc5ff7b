"""The hand-off outbox worker as a part of ``fabcoord run``, and its readiness check.

Several ``fabcoord run`` on one PostgreSQL share the outbox: each claims due commands with
``SELECT … FOR UPDATE SKIP LOCKED`` (see :mod:`.outbox`).
"""

from __future__ import annotations

import logging
import os
import threading
from datetime import datetime

from sqlalchemy import Engine, func, or_
from sqlmodel import col, select

from fabcoord.clock import utc_now
from fabcoord.config import Settings
from fabcoord.db import make_engine, unit_of_work
from fabcoord.service.parts import Check
from suppliers.handoff import outbox
from suppliers.handoff.models import CommandState, HandoffCommand

log = logging.getLogger(__name__)
IDLE_S = 1.0


def run(settings: Settings, stop: threading.Event) -> None:
    """Carry out due outbox commands until ``stop`` is set."""
    engine = make_engine(settings)
    worker = outbox.Worker(engine, environ=os.environ)
    try:
        while not stop.is_set():
            count = worker.run_once()
            if count:
                log.info("outbox: %d command(s) attempted", count)
            else:
                stop.wait(IDLE_S)
    finally:
        worker.close()
        engine.dispose()


def lag_s(engine: Engine, now: datetime | None = None) -> float:
    """How long the oldest due command, not leased by a worker, has waited (0: none waits)."""
    now = now or utc_now()
    with unit_of_work(engine, read_only=True) as session:
        oldest = session.exec(
            select(func.min(HandoffCommand.next_attempt_at)).where(
                HandoffCommand.state == CommandState.PENDING,
                col(HandoffCommand.next_attempt_at) <= now,
                or_(
                    col(HandoffCommand.leased_until).is_(None),
                    col(HandoffCommand.leased_until) < now,
                ),
            )
        ).one()
    if oldest is None:
        return 0.0
    if oldest.tzinfo is None:  # SQLite hands back naive UTC
        oldest = oldest.replace(tzinfo=now.tzinfo)
    return max(0.0, (now - oldest).total_seconds())


def outbox_ready(settings: Settings, engine: Engine) -> Check:
    """Ready while no due command has waited longer than ``settings.outbox_max_lag_s``."""
    lag = lag_s(engine)
    bound = settings.outbox_max_lag_s
    return Check(lag <= bound, f"oldest due command waiting {lag:.0f} s (bound {bound:.0f} s)")
