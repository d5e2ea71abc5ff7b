"""One simulated OctoPrint printer: the state machine behind the simulator's REST and push API.

It follows what a real OctoPrint 1.11.8 with its Virtual Printer does (see the module docs of
:mod:`print_farm.simulator`): states, event order, job/progress shapes and the traps (a start with no
file selected does nothing; a cancelled job keeps its file with null progress).
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

FATAL_ERROR = "Thermal Runaway, system stopped! Heater_ID: bed - Printer halted. kill() called!"
DWELL = re.compile(rb"^\s*G4\s+([PS])\s*(\d+(?:\.\d+)?)", re.IGNORECASE | re.MULTILINE)
ACTIVE = frozenset({"Starting", "Printing", "Pausing", "Paused", "Cancelling", "Finishing"})
STATE_IDS = {
    "Offline": "OFFLINE",
    "Opening serial connection": "OPEN_SERIAL",
    "Operational": "OPERATIONAL",
    "Starting": "STARTING",
    "Printing": "PRINTING",
    "Pausing": "PAUSING",
    "Paused": "PAUSED",
    "Resuming": "RESUMING",
    "Cancelling": "CANCELLING",
    "Finishing": "FINISHING",
    "Error": "ERROR",
    "Offline after error": "CLOSED_WITH_ERROR",
}


class Conflict(Exception):
    """A command refused with 409 and this message."""


def dwell_seconds(content: bytes) -> float:
    """Seconds of ``G4 P<ms>`` / ``G4 S<s>`` dwell in a G-code file."""
    total = 0.0
    for unit, value in DWELL.findall(content):
        total += float(value) / (1000.0 if unit.upper() == b"P" else 1.0)
    return total


@dataclass
class SimFile:
    """A stored file and its print statistics (OctoPrint keeps ``prints`` in the file's metadata:
    they survive a server restart)."""

    name: str
    size: int
    duration: float
    successes: int = 0
    failures: int = 0
    last: dict[str, Any] | None = None

    def record_print(self, *, success: bool, print_time: float | None = None) -> None:
        """An end of print, as OctoPrint 1.11.8 records it (``printTime`` only on success)."""
        if success:
            self.successes += 1
        else:
            self.failures += 1
        self.last = {"date": time.time(), "success": success}
        if success and print_time is not None:
            self.last["printTime"] = print_time

    def metadata(self) -> dict[str, Any]:
        """``GET /api/files/local/<name>``: the subset fabcoord reads."""
        body: dict[str, Any] = {
            "name": self.name,
            "display": self.name,
            "path": self.name,
            "origin": "local",
            "type": "machinecode",
            "typePath": ["machinecode", "gcode"],
            "size": self.size,
        }
        if self.last is not None:
            body["prints"] = {
                "success": self.successes,
                "failure": self.failures,
                "last": self.last,
            }
        return body


Publisher = Callable[[dict[str, Any]], None]
StateLog = Callable[[str, str], None]


class SimPrinter:
    """A printer with a virtual serial connection, a job and push listeners."""

    def __init__(
        self,
        key: str,
        *,
        print_seconds: float | None = None,
        time_scale: float = 1.0,
        finishing_seconds: float = 0.45,
        state_log: StateLog | None = None,
        auto_repeat: float | None = None,
        jitter: float = 0.0,
    ) -> None:
        self.key = key
        self.print_seconds, self.time_scale = print_seconds, time_scale
        self.finishing_seconds = finishing_seconds
        self.auto_repeat, self.jitter = auto_repeat, jitter
        self.state = "Offline"
        self.files: dict[str, SimFile] = {}
        self.selected: SimFile | None = None
        self.completion: float | None = None
        self.error: str | None = None
        self.fault: str | None = None
        self.restarting_until = 0.0
        self.listeners: set[Publisher] = set()
        self._state_log = state_log
        self._done_before = 0.0
        self._segment_start: float | None = None
        self._task: asyncio.Task[None] | None = None

    # ----- push
    def publish(self, message: dict[str, Any]) -> None:
        for listener in list(self.listeners):
            listener(message)

    def event(self, kind: str, payload: dict[str, Any] | None = None) -> None:
        self.publish({"event": {"type": kind, "payload": payload or {}}})

    def _file_payload(self) -> dict[str, Any]:
        f = self.selected
        if f is None:
            return {}
        return {"name": f.name, "path": f.name, "origin": "local", "size": f.size, "owner": "admin"}

    def set_state(self, state: str) -> None:
        if state == self.state:
            return
        self.state = state
        if self._state_log is not None:
            self._state_log(self.key, state)
        self.event("PrinterStateChanged", {"state_id": STATE_IDS.get(state), "state_string": state})
        self.publish({"current": self.current()})

    # ----- views
    @property
    def operational(self) -> bool:
        return self.state not in ("Offline", "Offline after error", "Error", "Closed")

    def flags(self) -> dict[str, bool]:
        s = self.state
        return {
            "operational": self.operational,
            "printing": s in ("Printing", "Starting", "Finishing", "Cancelling", "Pausing"),
            "cancelling": s == "Cancelling",
            "pausing": s == "Pausing",
            "resuming": s == "Resuming",
            "finishing": s == "Finishing",
            "closedOrError": not self.operational,
            "error": s in ("Error", "Offline after error"),
            "paused": s == "Paused",
            "ready": s == "Operational",
            "sdReady": False,
        }

    def elapsed(self) -> float:
        running = 0.0 if self._segment_start is None else time.monotonic() - self._segment_start
        return self._done_before + running

    def progress(self) -> dict[str, Any]:
        f = self.selected
        if f is None or self.completion is None:
            return {"completion": None, "filepos": None, "printTime": None, "printTimeLeft": None}
        completion = self.completion
        if self.state in ("Printing", "Pausing", "Paused"):
            completion = min(99.9, 100.0 * self.elapsed() / f.duration) if f.duration else 99.9
        left = max(0, round(f.duration * (1 - completion / 100)))
        return {
            "completion": completion,
            "filepos": int(f.size * completion / 100),
            "printTime": int(self.elapsed()),
            "printTimeLeft": left,
            "printTimeLeftOrigin": "linear",
        }

    def job(self) -> dict[str, Any]:
        file = self._file_payload() or {"name": None, "path": None, "origin": None, "size": None}
        body: dict[str, Any] = {
            "job": {"file": file, "estimatedPrintTime": None, "user": "admin"},
            "progress": self.progress(),
            "state": self.state,
        }
        if self.error is not None:
            body["error"] = self.error
        return body

    def current(self) -> dict[str, Any]:
        job = self.job()
        return {
            "state": {"text": self.state, "flags": self.flags(), "error": self.error or ""},
            "job": job["job"],
            "progress": job["progress"],
            "serverTime": time.time(),
            "logs": [],
            "messages": [],
        }

    # ----- connection
    def connect(self) -> None:
        if self.operational:
            return
        self.error = None
        self.set_state("Operational")
        self.event("Connected", {"port": "VIRTUAL", "baudrate": 115200})

    def disconnect(self, *, state: str = "Offline", was_printing: bool | None = None) -> None:
        self._stop_task()
        if was_printing is None:
            was_printing = self.state in ACTIVE
        if was_printing:
            self.event("PrintFailed", {**self._file_payload(), "reason": "error"})
            if self.selected is not None:
                self.selected.record_print(success=False)
        if self.selected is not None:
            self.selected, self.completion = None, None
            self.event("FileDeselected")
        self.event("Disconnected")
        self.set_state(state)

    def fatal_error(self, message: str = FATAL_ERROR) -> None:
        was_printing = self.state in ACTIVE
        self._stop_task()
        self.error = message
        self.set_state("Error")
        self.event("Error", {"error": message, "reason": "firmware"})
        self.disconnect(state="Offline after error", was_printing=was_printing)

    # ----- files and jobs
    def add_file(self, name: str, content: bytes) -> None:
        if self.selected is not None and self.selected.name == name and self.state in ACTIVE:
            raise Conflict("Trying to overwrite file that is currently being printed")
        duration = self.print_seconds if self.print_seconds is not None else dwell_seconds(content)
        duration *= random.uniform(1 - self.jitter, 1 + self.jitter)
        self.files[name] = SimFile(name, len(content), duration * self.time_scale)
        self.event("FileAdded", {"storage": "local", "path": name, "name": name})
        self.event("UpdatedFiles", {"type": "printables"})

    def select(self, name: str) -> None:
        if not self.operational or self.state in ACTIVE:
            raise Conflict("Printer is already printing, cannot select a new file")
        self.selected, self.completion = self.files[name], None
        self.event("FileSelected", self._file_payload())
        self.publish({"current": self.current()})

    def start(self) -> None:
        if not self.operational:
            raise Conflict("Printer is not operational")
        if self.state in ACTIVE:
            raise Conflict("Printer already has an active print job, did you mean 'restart'?")
        if self.selected is None or self.fault == "silent_nostart":
            return  # like OctoPrint: 204 and nothing happens
        self.completion, self._done_before = 0.0, 0.0
        self.set_state("Starting")
        self.event("PrintStarted", self._file_payload())
        self.set_state("Printing")
        self._run()

    def pause(self) -> None:
        if self.state != "Printing":
            raise Conflict("Printer is not printing, cannot pause")
        self._stop_task()
        self.set_state("Pausing")
        self.event("PrintPaused", self._file_payload())
        self.set_state("Paused")

    def resume(self) -> None:
        if self.state != "Paused":
            raise Conflict("Printer is not paused, cannot resume")
        self.event("PrintResumed", self._file_payload())
        self.set_state("Printing")
        self._run()

    def cancel(self) -> None:
        if self.state not in ("Printing", "Paused", "Pausing", "Starting"):
            raise Conflict("Printer is neither printing nor paused, cannot cancel")
        self._stop_task()
        payload = self._file_payload()
        self.event("PrintCancelling", payload)
        self.set_state("Cancelling")
        self.event("PrintCancelled", payload)
        self.event("PrintFailed", {**payload, "reason": "cancelled"})
        if self.selected is not None:
            self.selected.record_print(success=False)
        self.completion = None
        self._task = asyncio.get_running_loop().create_task(self._later("Operational", 0.06))

    # ----- timing
    def _freeze(self) -> None:
        if self._segment_start is not None:
            self._done_before += time.monotonic() - self._segment_start
            self._segment_start = None

    def _stop_task(self) -> None:
        self._freeze()
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()
        self._task = None

    def _run(self) -> None:
        self._segment_start = time.monotonic()
        self._task = asyncio.get_running_loop().create_task(self._print())

    async def _later(self, state: str, delay: float) -> None:
        await asyncio.sleep(delay)
        self.set_state(state)

    async def _print(self) -> None:
        assert self.selected is not None
        await asyncio.sleep(max(0.0, self.selected.duration - self.elapsed()))
        self._freeze()
        self.completion = 100.0
        self.selected.record_print(success=True, print_time=self._done_before)
        self.set_state("Finishing")
        self.event("PrintDone", {**self._file_payload(), "time": self._done_before})
        await asyncio.sleep(self.finishing_seconds)
        self.set_state("Operational")
        if self.auto_repeat is not None:
            await self.start_later(random.uniform(0.0, self.auto_repeat))

    async def start_later(self, delay: float) -> None:
        """Start the selected file again after ``delay`` (benchmarks keep printers busy)."""
        await asyncio.sleep(delay)
        if self.state == "Operational" and self.selected is not None:
            self._task = None
            self.start()
