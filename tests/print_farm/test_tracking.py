"""What a printer's reported state means for our job (never relying on "Finishing")."""

from __future__ import annotations

import pytest

from print_farm.tracking import Observation, Verdict, judge

FILE = "fabcoord-abc.gcode"


def verdict(
    obs: Observation, *, confirmed: bool = True, sent: bool = True, settled: bool = True
) -> Verdict:
    return judge(obs, expected_file=FILE, confirmed=confirmed, start_sent=sent, settled=settled)


@pytest.mark.parametrize(
    ("observation", "expected"),
    [
        (Observation(True, "Printing", FILE, 40.0), Verdict.PRINTING),
        (Observation(True, "Finishing", FILE, 100.0), Verdict.PRINTING),
        (Observation(True, "Operational", FILE, 100.0), Verdict.DONE),
        (Observation(True, "Operational", FILE, None), Verdict.FAILED),
        (Observation(True, "Offline after error", None, None), Verdict.FAILED),
        (Observation(True, "Offline", None, None), Verdict.FAILED),
        (Observation(False, "unreachable", FILE, 40.0), Verdict.WAIT),
        (Observation(True, "Opening serial connection", None, None), Verdict.WAIT),
        (Observation(True, "Operational", FILE, None, done_event=True), Verdict.DONE),
        (Observation(False, "unreachable", FILE, None, done_event=True), Verdict.DONE),
    ],
)
def test_a_confirmed_print(observation: Observation, expected: Verdict) -> None:
    assert verdict(observation) is expected


def test_a_finished_file_before_the_start_was_sent_is_not_ours() -> None:
    # the previous print of the same design left 100 %: without start_sent it proves nothing
    observation = Observation(True, "Operational", FILE, 100.0)
    assert verdict(observation, confirmed=False, sent=False) is Verdict.NOT_STARTED


def test_a_start_still_settling_is_waited_for() -> None:
    observation = Observation(True, "Operational", FILE, None)
    assert verdict(observation, confirmed=False, settled=False) is Verdict.WAIT
    assert verdict(observation, confirmed=False, settled=True) is Verdict.NOT_STARTED


def test_a_print_that_started_and_finished_while_nobody_watched_is_done() -> None:
    # select resets progress to null before start_sent is recorded: 100 % is our print
    observation = Observation(True, "Operational", FILE, 100.0)
    assert verdict(observation, confirmed=False, sent=True) is Verdict.DONE


def test_another_file_printing_means_ours_did_not_start() -> None:
    observation = Observation(True, "Printing", "other.gcode", 10.0)
    assert verdict(observation, confirmed=False) is Verdict.NOT_STARTED


@pytest.mark.parametrize(
    "observation",
    [
        Observation(True, "Offline", None, None),
        Observation(True, "Operational", None, None),
        Observation(True, "Operational", "other.gcode", 100.0),
    ],
)
def test_a_print_recorded_in_the_files_history_after_our_start_is_done(
    observation: Observation,
) -> None:
    # the server was restarted after our print ended: only the file's statistics know
    history = judge(
        observation,
        expected_file=FILE,
        confirmed=True,
        start_sent=True,
        settled=True,
        history_done=True,
    )
    assert history is Verdict.DONE
    assert verdict(observation) is not Verdict.DONE


def test_the_files_history_says_nothing_about_a_job_never_started() -> None:
    observation = Observation(True, "Offline", None, None)
    unstarted = judge(
        observation,
        expected_file=FILE,
        confirmed=False,
        start_sent=False,
        settled=True,
        history_done=True,
    )
    assert unstarted is Verdict.NOT_STARTED


def test_our_file_on_the_printer_outweighs_its_history() -> None:
    cancelled = Observation(True, "Operational", FILE, None)
    judged = judge(
        cancelled,
        expected_file=FILE,
        confirmed=True,
        start_sent=True,
        settled=True,
        history_done=True,
    )
    assert judged is Verdict.FAILED
