"""What a dispatcher knows about one printer it follows, fed by push events and REST polls."""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
from dataclasses import dataclass, field

from print_farm.dispatch_db import Observed
from print_farm.octoprint import JobStatus, OctoPrintClient
from print_farm.push import PrinterEvent, PushSubscription
from print_farm.tracking import Observation, is_active, is_down

PROGRESS_STORE_S = 5.0
FENCED_KINDS = frozenset(
    {"current", "PrintStarted", "PrintDone", "PrintFailed", "PrintCancelled", "PrinterStateChanged"}
)


@dataclass
class Tracked:
    """Live state of one printer. Events received before ``fence`` (the last start) are ignored:
    they describe the printer before our print."""

    id: int
    name: str
    url: str
    client: OctoPrintClient | None = None
    subscription: PushSubscription | None = None
    task: asyncio.Task[None] | None = None
    state: str = "unknown"
    file: str | None = None
    completion: float | None = None
    time_left: int | None = None
    progress: float | None = None  # last completion seen while our print was under way
    reachable: bool = False
    seen: bool = False
    done_file: str | None = None
    failed_file: str | None = None
    error: str = ""
    fence: float = 0.0
    last_poll: float = -math.inf
    poll_spread: float = field(default_factory=lambda: random.uniform(0.8, 1.2))
    last_connect: float = -math.inf
    backoff_until: float = -math.inf
    files: set[str] | None = None
    starting: bool = False
    cancel_sent: int | None = None
    cancel_tried: tuple[tuple[int, int], float] | None = None  # (job id, attempt), clock time
    notice: str = ""
    notice_stored: str | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    _stored: tuple[str, bool, int | None] | None = field(default=None, repr=False)
    _stored_at: float = field(default=-math.inf, repr=False)

    def follow(self, subscription: PushSubscription) -> None:
        self.subscription = subscription
        self.task = asyncio.create_task(subscription.run())

    async def close(self) -> None:
        if self.subscription is not None:
            await self.subscription.stop()
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
        if self.client is not None:
            await self.client.aclose()

    def apply_event(self, event: PrinterEvent) -> bool:
        """Update from a push event; True when the dispatcher should make a pass now (a print
        ended, failed or lost its printer)."""
        if event.kind in FENCED_KINDS and event.received_at < self.fence:
            return False
        self.changed.set()
        payload = event.payload
        name = payload.get("name")
        if event.kind == "Reachable":
            self.reachable, self.last_poll = True, -math.inf
        elif event.kind == "Unreachable":
            self.mark_unreachable(f"unreachable: {payload.get('reason', '')}")
        elif event.kind == "current":
            self._observe(
                str(payload.get("state") or self.state),
                _text(payload.get("file")),
                _number(payload.get("completion")),
                _int(payload.get("print_time_left")),
            )
            return False
        elif event.kind == "PrintStarted":  # a start being confirmed waits on ``changed``
            self._observe("Printing", _text(name), 0.0, None)
            return False
        elif event.kind == "PrintDone":  # sent while still "Finishing": not idle yet
            self.done_file = _text(name)
            self._observe("Finishing", _text(name), 100.0, 0)
        elif event.kind in ("PrintFailed", "PrintCancelled"):
            self.failed_file = _text(name)
        elif event.kind == "PrinterStateChanged":
            self.state = str(payload.get("state_string") or self.state)
            return is_down(self.state)  # errors need the dispatcher now; the rest can wait a pass
        else:
            return False
        return True

    async def wait_change(self, timeout: float) -> None:
        """Wait for the next push event (or ``timeout`` seconds)."""
        self.changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.changed.wait(), timeout)

    def apply_job(self, status: JobStatus) -> None:
        """Update from a REST ``/api/job`` reading."""
        self.reachable, self.seen, self.error = True, True, ""
        if self.notice.startswith(("unreachable", "API key")):
            self.notice = ""
        self._observe(status.state, status.file_name, status.completion, status.print_time_left)

    def mark_unreachable(self, why: str) -> None:
        self.reachable, self.state, self.error = False, "unreachable", why
        self.notice = why[:300]

    def _observe(
        self, state: str, file: str | None, completion: float | None, time_left: int | None
    ) -> None:
        self.reachable = True
        self.state, self.file, self.completion, self.time_left = state, file, completion, time_left
        if is_active(state) and completion is not None:
            self.progress = completion

    def observation(self, expected_file: str) -> Observation:
        return Observation(
            reachable=self.reachable,
            state=self.state,
            file=self.file,
            completion=self.completion,
            done_event=self.done_file == expected_file,
            failed_event=self.failed_file == expected_file,
        )

    def judged_key(self) -> tuple[object, ...]:
        """What :meth:`observation` says that can change a printing job's verdict (progress
        only counts once the printer is idle: a print at 100 %)."""
        completion = None if is_active(self.state) else self.completion
        return (self.reachable, self.state, self.file, completion, self.done_file, self.failed_file)

    def begin_start(self, fence: float) -> None:
        """A print is about to start: forget what was seen of the previous one."""
        self.fence = fence
        self.done_file = self.failed_file = None
        self.progress = None
        self.cancel_sent = None

    def forget_job(self) -> None:
        self.done_file = self.failed_file = None
        self.progress = None

    def failure_reason(self, *, cancelled: bool) -> str:
        if cancelled:
            return "cancelled by an operator"
        if self.failed_file is not None:
            return f"print failed or was cancelled on the printer ({self.state})"
        return f"print stopped: printer {self.state}"

    def to_store(self, printer_id: int, now: float) -> Observed | None:
        """What to write about the printer: a new state or reachability at once, a new whole
        percent of progress at most every ``PROGRESS_STORE_S`` seconds (the live view reads the
        tracker; ``printers status`` may show progress a few seconds old)."""
        if self._stored is not None:
            state, reachable, percent = self._stored
            if (state, reachable) == (self.state, self.reachable) and (
                percent == self._percent() or now - self._stored_at < PROGRESS_STORE_S
            ):
                return None
        return Observed(
            printer_id=printer_id,
            state=self.state,
            reachable=self.reachable,
            completion=self.completion,
            time_left_s=self.time_left,
            seen=self.reachable,
        )

    def stored(self, now: float) -> None:
        self._stored, self._stored_at = (self.state, self.reachable, self._percent()), now

    def _percent(self) -> int | None:
        return None if self.completion is None else int(self.completion)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _int(value: object) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
