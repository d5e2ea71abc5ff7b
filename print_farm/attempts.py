"""How many times a job may be started before it is held for an operator.

A job that keeps failing or not starting would loop forever; after ``max_attempts`` attempts since
it was queued (or last retried with ``fabcoord farm retry``) it goes to ``held`` with its last
error, and is not dispatched until an operator retries it. ``attempts`` itself is never reset: it
names each attempt's posting (``print_job/<id>/attempt/<n>``).
"""

from __future__ import annotations

from typing import Protocol

from print_farm.models import JobState

DEFAULT_MAX_ATTEMPTS = 5


class Attempted(Protocol):
    """What the attempt rules read of a job (a ``PrintJob``, or the columns a write read)."""

    @property
    def attempts(self) -> int: ...
    @property
    def retry_base(self) -> int: ...
    @property
    def cancel_requested(self) -> bool: ...


def exhausted(job: Attempted, max_attempts: int | None) -> bool:
    """The job has used up its attempts (None: no limit)."""
    return max_attempts is not None and job.attempts - job.retry_base >= max_attempts


def requeue_state(job: Attempted, max_attempts: int | None) -> JobState:
    """Where a job goes when an attempt ends without a print: cancelled if an operator asked,
    held once its attempts are used up, else back in the queue."""
    if job.cancel_requested:
        return JobState.CANCELLED
    return JobState.HELD if exhausted(job, max_attempts) else JobState.QUEUED
