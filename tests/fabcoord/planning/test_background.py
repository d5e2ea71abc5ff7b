"""Steps of a plan on the other core: the worker's answer is the one computed here, and a step
the worker cannot run is run here."""

from __future__ import annotations

import errno
import os
import random
import subprocess
import sys
import threading
from datetime import date, timedelta
from pathlib import Path

import pytest

from fabcoord.geo import Point
from fabcoord.planning import background, solver
from fabcoord.planning.problem import FRAME, VISOR, Assembly, Need, Problem, Site

TODAY = date(2026, 12, 1)

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forks on Linux only")


def whose_pid(offset: int) -> int:
    return os.getpid() + offset


def fails() -> int:
    raise ValueError("step failed")


def test_a_step_runs_in_the_forked_worker_and_its_answer_comes_back() -> None:
    with background.worker() as worker:
        if not worker.forked:
            pytest.skip("a single core, or threads running: no worker forked")
        assert worker.submit(whose_pid, 0).result() != os.getpid()
        assert worker.submit(whose_pid, 0).result() != os.getpid()  # one step after another


def test_a_worker_not_forked_runs_the_step_here() -> None:
    assert background.Worker(fork=False).submit(whose_pid, 1).result() == os.getpid() + 1


def test_no_worker_is_forked_while_another_thread_runs() -> None:
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        with background.worker() as worker:
            assert not worker.forked
            assert worker.submit(whose_pid, 4).result() == os.getpid() + 4
    finally:
        release.set()
        other.join()


def test_a_step_failing_in_the_worker_is_run_here_and_raises_here() -> None:
    with background.worker() as worker:
        with pytest.raises(ValueError, match="step failed"):
            worker.submit(fails).result()
        assert worker.submit(whose_pid, 2).result() is not None  # the worker still answers


def test_a_released_worker_leaves_before_it_is_closed_and_later_steps_run_here() -> None:
    with background.worker() as worker:
        if not worker.forked:
            pytest.skip("a single core, or threads running: no worker forked")
        pid = worker.submit(whose_pid, 0).result()
        worker.release()
        assert os.waitpid(pid, 0)[0] == pid  # it left without being closed
        assert worker.submit(whose_pid, 3).result() == os.getpid() + 3
        worker.release()  # again: nothing to do
    assert not worker.forked  # closed: it was reaped already


def test_a_step_whose_answer_was_not_read_before_the_release_runs_here() -> None:
    with background.worker() as worker:
        pending = worker.submit(whose_pid, 0)
        worker.release()
        assert pending.result() == os.getpid()


def test_a_step_that_cannot_be_sent_is_run_here() -> None:
    def local(offset: int) -> int:  # not picklable: a local function
        return os.getpid() + offset

    with background.worker() as worker:
        assert worker.submit(local, 3).result() == os.getpid() + 3


def random_problem() -> Problem:
    rng = random.Random(7)

    def point() -> Point:
        return Point(rng.uniform(43, 50), rng.uniform(-4, 7))

    sites = tuple(
        Site(f"fablab/s{i}", f"s{i}", f"s{i}", point(), "r", 10.0, rng.randint(0, 200))
        for i in range(30)
    )
    assemblies = tuple(Assembly(s.fablab, s.name, s.point, "r", rng.randint(0, 300)) for s in sites)
    needs = tuple(
        Need(
            f"N{i}",
            1,
            rng.choice((FRAME, VISOR)),
            rng.randint(1, 80),
            TODAY + timedelta(days=rng.randint(-2, 20)),
            rng.randint(1, 3),
            "CHU",
            point(),
            "r",
        )
        for i in range(300)
    )
    return Problem(TODAY, 14, sites, assemblies, needs)


def test_the_coarse_problem_solved_by_the_worker_gives_the_plan_solved_on_one_core() -> None:
    problem = random_problem()
    alone = solver.solve(problem, nearest_k=3, coarse_from=0)
    with background.worker() as worker:
        helped = solver.solve(problem, nearest_k=3, coarse_from=0, worker=worker)
    assert helped == alone


def test_a_fork_that_fails_leaves_the_steps_to_run_here(monkeypatch: pytest.MonkeyPatch) -> None:
    if not background._can_fork():
        pytest.skip("a single core, or threads running: no fork tried")

    def no_fork() -> int:
        raise OSError(errno.EAGAIN, "Resource temporarily unavailable")

    monkeypatch.setattr(background.os, "fork", no_fork)
    open_before = len(os.listdir("/proc/self/fd"))
    with background.worker() as worker:
        assert not worker.forked
        assert worker.submit(whose_pid, 5).result() == os.getpid() + 5
    assert len(os.listdir("/proc/self/fd")) == open_before  # the pipes closed again


def test_a_close_interrupted_while_waiting_for_the_worker_can_be_finished(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ctrl-C while ``close`` waits for the worker: the ``worker()`` block's own ``close``
    then neither closes the pipes' descriptors twice (another file may have their numbers by
    then) nor leaves the worker unreaped."""
    started = background.Worker()
    if not started.forked:
        pytest.skip("a single core, or threads running: no worker forked")
    waitpid = os.waitpid
    calls = []

    def interrupted(pid: int, options: int) -> tuple[int, int]:
        calls.append(pid)
        if len(calls) == 1:
            raise KeyboardInterrupt
        return waitpid(pid, options)

    monkeypatch.setattr(background.os, "waitpid", interrupted)
    with pytest.raises(KeyboardInterrupt):
        started.close()
    started.close()  # no EBADF; the worker is reaped
    assert calls == [calls[0], calls[0]] and not started.forked
    with pytest.raises(ChildProcessError):
        waitpid(calls[0], os.WNOHANG)


ROOT = Path(__file__).resolve().parents[3]
FORKED_PLAN = """
import os, sys
sys.path.insert(0, os.getcwd())
from tests.fabcoord.planning.test_background import forked_equals_one_core
print(forked_equals_one_core())
"""


def forked_equals_one_core() -> str:
    """In a process of its own: whether a worker forked and its plan equals the one-core one."""
    problem = random_problem()
    alone = solver.solve(problem, nearest_k=3, coarse_from=0)
    with background.worker() as worker:
        if not worker.forked:
            return "not forked"
        helped = solver.solve(problem, nearest_k=3, coarse_from=0, worker=worker)
    return "same" if helped == alone else "different"


def test_a_plan_process_without_threads_forks_its_worker_and_plans_the_same() -> None:
    """The other tests run in pytest's process, where a session's server thread may already
    run (then nothing forks): this one plans in a fresh interpreter."""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("a single core: no worker forked")
    done = subprocess.run(
        [sys.executable, "-c", FORKED_PLAN],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "same"
