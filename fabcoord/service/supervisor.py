"""Run parts on threads of their own; restart a crashed part after a back-off, the others go on.

A part is a function ``run(stop)`` that works until the ``threading.Event`` it is given is set,
then returns. Raising (or returning while the service is not stopping) counts as a crash: it is
logged with its traceback and the part is started again after 1 s, 2 s, 4 s … at most 60 s; a
part that then runs for a whole minute starts its count again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fabcoord.backoff import doubling_delay
from fabcoord.service.board import Board, PartState

log = logging.getLogger("fabcoord.service")


@dataclass(frozen=True)
class Part:
    """One supervised part.

    Attributes:
        name: its name in logs, ``/readyz`` and the board.
        run: works until its ``stop`` event is set, then returns.
        heartbeat_s: when set, the part beats (see :meth:`Board.beater`) and is alive only if its
            last beat is at most this old.
    """

    name: str
    run: Callable[[threading.Event], None]
    heartbeat_s: float | None = None


@dataclass(frozen=True)
class Backoff:
    """Pause before restart n: ``first_s * 2**(n-1)``, at most ``most_s``."""

    first_s: float = 1.0
    most_s: float = 60.0

    def delay(self, failures: int) -> float:
        return doubling_delay(failures, first_s=self.first_s, most_s=self.most_s)


class Supervisor:
    """Starts every part, keeps them running until :meth:`stop`."""

    def __init__(
        self, parts: Sequence[Part], board: Board, *, backoff: Backoff | None = None
    ) -> None:
        self.parts, self.board = list(parts), board
        self.backoff = backoff or Backoff()
        self.stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for part in self.parts:
            thread = (
                threading.Thread(  # daemon: a part stuck past stop()'s bound cannot hold the exit
                    target=self._keep, args=(part,), name=part.name, daemon=True
                )
            )
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout_s: float = 60.0) -> bool:
        """Ask every part to stop and wait for them; False if one is still running after
        ``timeout_s`` (its thread is left behind)."""
        self.stopping.set()
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        late = [thread.name for thread in self._threads if thread.is_alive()]
        if late:
            log.error("parts still running after %.0f s: %s", timeout_s, ", ".join(late))
        return not late

    def _keep(self, part: Part) -> None:
        failures = 0
        while not self.stopping.is_set():
            started = time.monotonic()
            self.board.set_state(part.name, PartState.RUNNING)
            log.info("part %s started", part.name)
            try:
                part.run(self.stopping)
            except (Exception, SystemExit) as error:  # uvicorn exits when it cannot bind
                if self.stopping.is_set():
                    log.warning("part %s failed while stopping: %s", part.name, error)
                    break
                log.error("part %s crashed: %s", part.name, error, exc_info=error)
            else:
                if self.stopping.is_set():
                    break
                log.error("part %s ended by itself", part.name)
            if time.monotonic() - started >= self.backoff.most_s:
                failures = 0  # it ran for a while: a new run of failures begins
            failures += 1
            pause = self.backoff.delay(failures)
            self.board.set_state(part.name, PartState.RESTARTING)
            log.warning(
                "part %s restarts in %g s (failure %d in a row)", part.name, pause, failures
            )
            if self.stopping.wait(pause):
                break
        self.board.set_state(part.name, PartState.STOPPED)
        log.info("part %s stopped", part.name)
