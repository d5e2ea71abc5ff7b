"""The simulator's push socket honours a client's ``subscribe`` and ``throttle`` as OctoPrint 1.11
does, so the benches that follow simulated printers pay what following real ones costs."""

from __future__ import annotations

from print_farm.simulator.sockets import Subscription


def event(kind: str) -> dict[str, object]:
    return {"event": {"type": kind, "payload": {}}}


def test_a_new_socket_gets_every_event_and_the_state_unthrottled() -> None:
    subscription = Subscription()
    assert subscription.sends(event("FileAdded"))
    assert subscription.state and subscription.throttle == 1


def test_a_listed_subscription_keeps_only_the_events_listed() -> None:
    subscription = Subscription()
    subscription.take({"subscribe": {"state": {"logs": False}, "events": ["PrintDone"]}})
    assert subscription.sends(event("PrintDone"))
    assert not subscription.sends(event("FileAdded"))
    assert subscription.sends({"current": {}}) and subscription.state


def test_events_false_drops_every_event_and_state_false_stops_the_heartbeat() -> None:
    subscription = Subscription()
    subscription.take({"subscribe": {"state": False, "events": False}})
    assert not subscription.sends(event("PrintDone"))
    assert not subscription.state


def test_throttle_spaces_the_heartbeat_and_a_bad_one_is_ignored() -> None:
    subscription = Subscription()
    subscription.take({"throttle": 4})
    assert subscription.throttle == 4
    for bad in (0, -1, "4", True, 1000):
        subscription.take({"throttle": bad})
    assert subscription.throttle == 4
