"""The supervisor on real threads: a crashed part is restarted and logged, the others go on."""

from __future__ import annotations

import logging
import threading

import pytest

from fabcoord.service.board import Board, PartState
from fabcoord.service.supervisor import Backoff, Part, Supervisor

QUICK = Backoff(first_s=0.01, most_s=0.04)


def test_the_back_off_doubles_from_one_second_up_to_a_minute() -> None:
    delays = [Backoff().delay(n) for n in range(1, 9)]
    assert delays == [1, 2, 4, 8, 16, 32, 60, 60]


def test_a_crashed_part_is_restarted_and_logged_while_the_others_go_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    crashes = 3
    runs = {"flaky": 0, "steady": 0}
    recovered = threading.Event()

    def flaky(stop: threading.Event) -> None:
        runs["flaky"] += 1
        if runs["flaky"] <= crashes:
            raise RuntimeError(f"boom {runs['flaky']}")
        recovered.set()
        stop.wait()

    def steady(stop: threading.Event) -> None:
        runs["steady"] += 1
        stop.wait()

    board = Board([("flaky", None), ("steady", None)])
    supervisor = Supervisor([Part("flaky", flaky), Part("steady", steady)], board, backoff=QUICK)
    with caplog.at_level(logging.INFO, logger="fabcoord.service"):
        supervisor.start()
        assert recovered.wait(30)
        status = {s.name: s for s in board.read()}
        assert supervisor.stop(30)
    assert runs == {"flaky": crashes + 1, "steady": 1}
    assert status["flaky"].restarts == crashes and status["flaky"].alive
    assert status["steady"].restarts == 0 and status["steady"].alive
    crashed = [r for r in caplog.records if "crashed" in r.getMessage()]
    assert [r.getMessage() for r in crashed] == [f"part flaky crashed: boom {n}" for n in (1, 2, 3)]
    assert all(r.exc_info for r in crashed)  # with the traceback
    assert "part flaky restarts in 0.02 s (failure 2 in a row)" in caplog.messages
    assert {s.state for s in board.read()} == {PartState.STOPPED}


def test_a_part_that_ends_by_itself_is_restarted() -> None:
    runs = []
    again = threading.Event()

    def short(stop: threading.Event) -> None:
        runs.append(1)
        if len(runs) == 2:
            again.set()
            stop.wait()

    supervisor = Supervisor([Part("short", short)], Board([("short", None)]), backoff=QUICK)
    supervisor.start()
    assert again.wait(30)
    assert supervisor.stop(30)
    assert len(runs) == 2


def test_a_beating_part_is_alive_only_while_it_beats() -> None:
    board = Board([("beating", 3600.0), ("silent", None)])
    board.set_state("beating", PartState.RUNNING)
    board.set_state("silent", PartState.RUNNING)
    before = {s.name: s.alive for s in board.read()}
    board.beat("beating")
    after = {s.name: s.alive for s in board.read()}
    assert before == {"beating": False, "silent": True}
    assert after == {"beating": True, "silent": True}
