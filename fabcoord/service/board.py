"""Each part's state, kept in shared memory so that the web workers (other processes) can read it.

Times are ``time.monotonic()`` seconds: on Linux the same clock in every process of the machine.
"""

from __future__ import annotations

import enum
import multiprocessing
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

_FIELDS = 5  # state, since, last beat, restarts, heartbeat bound (0: none)


class PartState(enum.IntEnum):
    """Where a part is in its life."""

    STOPPED = 0
    RUNNING = 1
    RESTARTING = 2  # it crashed or ended by itself: waiting out its back-off


@dataclass(frozen=True)
class PartStatus:
    """A part's state as read from the board."""

    name: str
    state: PartState
    since_s: float
    restarts: int
    beat_age_s: float | None
    heartbeat_s: float | None

    @property
    def alive(self) -> bool:
        """Running and, when it beats, beaten recently enough."""
        if self.state is not PartState.RUNNING:
            return False
        if self.heartbeat_s is None:
            return True
        return self.beat_age_s is not None and self.beat_age_s <= self.heartbeat_s

    def public(self) -> dict[str, Any]:
        beat = None if self.beat_age_s is None else round(self.beat_age_s, 1)
        return {
            "state": self.state.name.lower(),
            "for_s": round(self.since_s, 1),
            "restarts": self.restarts,
            "last_beat_s": beat,
            "alive": self.alive,
        }


class Board:
    """The parts' states; picklable into a process being started (``spawn``), not afterwards."""

    def __init__(self, parts: Sequence[tuple[str, float | None]]) -> None:
        self.names = tuple(name for name, _ in parts)
        self._index = {name: i * _FIELDS for i, name in enumerate(self.names)}
        self._values: Any = multiprocessing.get_context("spawn").Array(
            "d", max(1, len(self.names)) * _FIELDS
        )
        for name, heartbeat_s in parts:
            self._values[self._index[name] + 4] = heartbeat_s or 0.0

    def set_state(self, name: str, state: PartState) -> None:
        at = self._index[name]
        with self._values.get_lock():
            self._values[at] = float(state)
            self._values[at + 1] = time.monotonic()
            if state is PartState.RESTARTING:
                self._values[at + 3] += 1

    def beat(self, name: str) -> None:
        """Record that the part is alive (its loop turned)."""
        self._values[self._index[name] + 2] = time.monotonic()

    def beater(self, name: str) -> _Beat:
        """A callable that beats for ``name`` (handed to the part)."""
        return _Beat(self, name)

    def read(self) -> list[PartStatus]:
        now = time.monotonic()
        with self._values.get_lock():
            values = list(self._values[:])
        found = []
        for name in self.names:
            at = self._index[name]
            beat = values[at + 2]
            found.append(
                PartStatus(
                    name=name,
                    state=PartState(int(values[at])),
                    since_s=now - values[at + 1] if values[at + 1] else 0.0,
                    restarts=int(values[at + 3]),
                    beat_age_s=now - beat if beat else None,
                    heartbeat_s=values[at + 4] or None,
                )
            )
        return found


@dataclass(frozen=True)
class _Beat:
    board: Board
    name: str

    def __call__(self) -> None:
        self.board.beat(self.name)
