"""Steps of a plan run on the machine's other core, in a forked worker process, while this
process goes on with the next (OR-Tools holds the GIL while it solves: a thread would not run
beside it).

The worker is forked when a plan begins, before the plan reads anything: a fork copies the page
tables, and every page either process then writes is copied (forked later, with the orders and
costs in memory, this process spent about 0.05 s copying pages it had shared). It then waits for
steps: a function and its arguments, pickled (small here: the coarse problem), runs them and
sends the answer back through a pipe; it leaves with ``os._exit``, touching nothing it inherited
(database connections, files, locks). Where a fork is unsafe or pointless (not Linux, a
single core, other threads running: a web server's), or the worker fails, a step runs here when
its answer is asked for: the same answer, on one core.
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import struct
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

T = TypeVar("T")

ENABLED = True
"""Whether steps may run in a worker at all (the benchmark turns it off to measure one core)."""

_LENGTH = struct.Struct("<Q")


def _can_fork() -> bool:
    """Linux only (macOS's system libraries are not safe to use in a forked child), with more
    than one core to run on, and no other thread (one could hold a lock the child would inherit
    held)."""
    if not ENABLED or not sys.platform.startswith("linux") or threading.active_count() > 1:
        return False
    return len(os.sched_getaffinity(0)) > 1


def _send(fd: int, value: object) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(_LENGTH.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view) :]


def _receive(fd: int) -> Any:
    """The next message, or raise EOFError when the other side has gone."""
    head = _read_exactly(fd, _LENGTH.size)
    return pickle.loads(_read_exactly(fd, _LENGTH.unpack(head)[0]))


def _read_exactly(fd: int, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


class Pending(Generic[T]):
    """A step handed to the worker (or to be run here)."""

    def __init__(self, worker: Worker, work: Callable[..., T], args: tuple[Any, ...]) -> None:
        self._worker, self._work, self._args = worker, work, args
        self._sent = worker._submit(work, args)

    def result(self) -> T:
        """The step's answer: the worker's, or computed here."""
        if self._sent:
            self._sent = False
            ok, answer = self._worker._answer()
            if ok:
                value: T = answer
                return value
        return self._work(*self._args)


class Worker:
    """A forked process that runs steps on the other core (see the module's docstring); use it
    through :func:`worker`, which ends it."""

    def __init__(self, *, fork: bool = True) -> None:
        """``fork``: False for a worker that runs every step here, when asked for its result."""
        self._pid = 0
        self._jobs = self._answers = -1
        self._busy = False
        if not fork or not _can_fork():
            return
        opened: list[int] = []
        try:
            jobs_read, jobs_write = os.pipe()
            opened += (jobs_read, jobs_write)
            answers_read, answers_write = os.pipe()
            opened += (answers_read, answers_write)
            pid = os.fork()
        except OSError:  # no process or pipe to spare (EAGAIN, ENOMEM, EMFILE): run steps here
            for fd in opened:
                os.close(fd)
            return
        if pid == 0:  # the worker: serve, then leave without running any cleanup
            # no collection of what was inherited: a finalizer could close the parent's
            # database connection from here (psycopg's sends the server its goodbye)
            gc.disable()
            try:
                os.close(jobs_write)
                os.close(answers_read)
                _serve(jobs_read, answers_write)
            finally:
                os._exit(0)
        os.close(jobs_read)
        os.close(answers_write)
        self._pid, self._jobs, self._answers = pid, jobs_write, answers_read

    @property
    def forked(self) -> bool:
        return self._pid != 0

    def submit(self, work: Callable[..., T], *args: Any) -> Pending[T]:
        """Start ``work(*args)`` in the worker (``work`` a module-level function, ``args``
        picklable); one step at a time: ask for its result before the next."""
        return Pending(self, work, args)

    def _submit(self, work: Callable[..., Any], args: tuple[Any, ...]) -> bool:
        if not self._pid or self._busy or self._jobs < 0:
            return False
        try:
            _send(self._jobs, (work, args))
        except Exception:  # not picklable (or the worker is gone): run it here
            self.close()
            return False
        self._busy = True
        return True

    def _answer(self) -> tuple[bool, Any]:
        self._busy = False
        try:
            ok, answer = _receive(self._answers)
        except (OSError, EOFError, pickle.UnpicklingError):
            self.close()
            return False, None
        return ok, answer

    def release(self) -> None:
        """No more steps: the worker is told to leave (its pipes closed) and this process goes
        on while it does (a hundred megabytes to give back); :meth:`close` then reaps it. A step
        submitted after this runs here."""
        if self._jobs >= 0:
            jobs, answers, self._jobs, self._answers = self._jobs, self._answers, -1, -1
            self._busy = False
            os.close(jobs)
            os.close(answers)

    def close(self) -> None:
        """End the worker (it finishes a step under way first). Safe to call again, after a
        close interrupted (Ctrl-C while waiting for the worker): the pipes are closed once, and
        the worker is waited for until it is."""
        self.release()
        if self._pid:
            with contextlib.suppress(ChildProcessError):  # reaped elsewhere (SIGCHLD ignored)
                os.waitpid(self._pid, 0)
            self._pid = 0


def _serve(jobs: int, answers: int) -> None:
    while True:
        try:
            work, args = _receive(jobs)
        except EOFError:
            return
        try:
            reply: tuple[bool, Any] = (True, work(*args))
        except Exception:  # the caller runs the step itself, and sees the error there
            reply = (False, None)
        _send(answers, reply)


@contextmanager
def worker() -> Iterator[Worker]:
    """A :class:`Worker` for the block, ended when it leaves."""
    started = Worker()
    try:
        yield started
    finally:
        started.close()
