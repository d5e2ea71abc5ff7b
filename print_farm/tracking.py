"""What a printer's reported state means for the job a dispatcher started on it (pure).

Never relies on seeing "Finishing": a finished print is ``Operational`` with our file at 100 %
(or a ``PrintDone`` event); a cancelled one is ``Operational`` with no progress; a fault is
``Offline after error`` / ``Error``; a restarted server reports ``Offline`` with no job. A print
that ended while nobody watched, on a server restarted since, is known from the file's print
statistics (``history_done``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

ACTIVE_STATES = ("Starting", "Printing", "Pausing", "Paused", "Resuming", "Finishing", "Cancelling")
DOWN_STATES = ("Offline", "Error", "Closed")


class Verdict(StrEnum):
    WAIT = "wait"  # nothing to record yet
    PRINTING = "printing"  # our print is under way
    DONE = "done"  # our print ran to its end
    FAILED = "failed"  # our print started and stopped before its end
    NOT_STARTED = "not_started"  # our print never started


@dataclass(frozen=True)
class Observation:
    """The latest word from one printer (REST poll or push event)."""

    reachable: bool
    state: str
    file: str | None = None
    completion: float | None = None
    done_event: bool = False  # PrintDone for ``file`` seen since the start
    failed_event: bool = False  # PrintFailed / PrintCancelled for ``file`` seen since the start


def is_active(state: str) -> bool:
    return state.startswith(ACTIVE_STATES)


def is_down(state: str) -> bool:
    return state.startswith(DOWN_STATES)


def is_idle(state: str) -> bool:
    """Connected and not printing: the printer can take a job."""
    return state == "Operational"


def judge(
    observation: Observation,
    *,
    expected_file: str,
    confirmed: bool,
    start_sent: bool,
    settled: bool,
    history_done: bool = False,
) -> Verdict:
    """Decide what happened to our job.

    Args:
        expected_file: the design's file name on the printer.
        confirmed: the printer was seen printing this job (status ``printing``).
        start_sent: the file was selected (which resets the progress) and ``start`` sent.
        settled: long enough has passed since the start for a silent non-start to be certain.
        history_done: the file's print statistics on the printer say its last print succeeded
            after our start was sent (read when the printer shows no job of ours).
    """
    ours = observation.file == expected_file
    started = confirmed or start_sent
    if history_done and started and observation.reachable and not ours:
        return Verdict.DONE
    if observation.done_event and ours and started:
        return Verdict.DONE
    if observation.failed_event and ours and started:
        return Verdict.FAILED if confirmed or settled else Verdict.WAIT
    if not observation.reachable:
        return Verdict.WAIT
    state = observation.state
    if is_active(state):
        if ours:
            return Verdict.PRINTING
        return Verdict.FAILED if confirmed else Verdict.NOT_STARTED
    if is_idle(state):
        if ours and (observation.completion or 0.0) >= 100.0 and started:
            return Verdict.DONE
        if confirmed:
            return Verdict.FAILED
        return Verdict.NOT_STARTED if (settled or not start_sent) else Verdict.WAIT
    if is_down(state):
        return Verdict.FAILED if confirmed else Verdict.NOT_STARTED
    return Verdict.WAIT
