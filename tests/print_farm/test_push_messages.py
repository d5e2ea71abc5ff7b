"""What a push subscription sends and emits, message by message (a scripted socket, no server)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from print_farm.push import SUBSCRIBE, PrinterEvent, PushSubscription
from print_farm.tracker import FENCED_KINDS


class _Closed(Exception):
    """The scripted socket has no more messages."""


class ScriptedSocket:
    """Hands out the given messages, records what the client sends."""

    def __init__(self, messages: list[dict[str, Any]]) -> None:
        self.messages = [json.dumps(message) for message in messages]
        self.sent: list[str] = []

    async def recv(self) -> str:
        if not self.messages:
            raise _Closed
        return self.messages.pop(0)

    async def send(self, message: str) -> None:
        self.sent.append(message)


def follow(subscription: PushSubscription, messages: list[dict[str, Any]]) -> ScriptedSocket:
    socket = ScriptedSocket(messages)
    with pytest.raises(_Closed):
        asyncio.run(subscription._follow(socket, "admin:session"))  # type: ignore[arg-type]
    return socket


def current(state: str, completion: float | None, *, temp: float = 21.0) -> dict[str, Any]:
    flags = {"operational": True, "printing": state == "Printing", "ready": state != "Printing"}
    return {
        "current": {
            "state": {"text": state, "flags": flags},
            "job": {"file": {"name": "visor.gcode" if completion is not None else None}},
            "progress": {"completion": completion, "printTimeLeft": None},
            "temps": [{"tool0": {"actual": temp, "target": 0}}],
            "serverTime": 1_700_000_000 + temp,
        }
    }


def test_the_subscription_authenticates_subscribes_and_throttles_current_messages() -> None:
    socket = follow(
        PushSubscription("p1", "http://127.0.0.1:1", "key", throttle=4), [{"connected": {}}]
    )
    assert socket.sent == [json.dumps({"auth": "admin:session"}), SUBSCRIBE, '{"throttle": 4}']


def test_an_unthrottled_subscription_sends_no_throttle() -> None:
    socket = follow(
        PushSubscription("p1", "http://127.0.0.1:1", "key", throttle=1), [{"connected": {}}]
    )
    assert socket.sent == [json.dumps({"auth": "admin:session"}), SUBSCRIBE]


def test_current_messages_that_change_only_temperatures_or_fractions_emit_nothing_new() -> None:
    events: list[PrinterEvent] = []
    subscription = PushSubscription("p1", "http://127.0.0.1:1", "key", on_event=events.append)
    follow(
        subscription,
        [
            {"connected": {}},
            current("Operational", None),
            current("Operational", None, temp=22.5),  # temperatures and server time only
            current("Printing", 10.2),
            current("Printing", 10.7, temp=30.0),  # same whole percent
            current("Printing", 11.0),
            {"event": {"type": "PrinterStateChanged", "payload": {"state_string": "Operational"}}},
            current("Operational", 100.0),
        ],
    )
    emitted = [(e.kind, e.payload.get("state"), e.payload.get("completion")) for e in events]
    assert emitted == [
        ("Reachable", None, None),
        ("current", "Operational", None),
        ("current", "Printing", 10.2),
        ("current", "Printing", 11.0),
        ("PrinterStateChanged", None, None),
        ("current", "Operational", 100.0),
    ]
    assert subscription.last_current == {
        "state": "Operational",
        "flags": {"operational": True, "printing": False, "ready": True},
        "file": "visor.gcode",
        "completion": 100.0,
        "print_time_left": None,
    }


def test_a_change_of_flags_alone_is_a_new_current_event() -> None:
    events: list[PrinterEvent] = []
    paused = current("Printing", 50.0)
    paused["current"]["state"]["flags"] = {"operational": True, "printing": True, "paused": True}
    follow(
        PushSubscription("p1", "http://127.0.0.1:1", "key", on_event=events.append),
        [{"connected": {}}, current("Printing", 50.0), paused],
    )
    assert [e.kind for e in events] == ["Reachable", "current", "current"]


def test_the_subscription_asks_for_every_event_the_tracker_reads() -> None:
    subscribed = json.loads(SUBSCRIBE)["subscribe"]
    assert set(FENCED_KINDS) - {"current"} <= set(subscribed["events"])
    assert {"PrintPaused", "PrintResumed", "PrintCancelling", "Disconnected", "Error"} <= set(
        subscribed["events"]
    )
    assert subscribed["state"] == {"logs": False, "messages": False}


def test_a_current_held_back_from_before_a_state_change_does_not_take_the_state_back() -> None:
    """OctoPrint holds a throttled ``current`` back; one sent just after ``PrinterStateChanged``
    may still tell the state before it (and the next comes a throttled period later)."""
    events: list[PrinterEvent] = []
    operational = {"state_string": "Operational"}
    follow(
        PushSubscription("p1", "http://127.0.0.1:1", "key", on_event=events.append),
        [
            {"connected": {}},
            current("Printing", 99.0),
            {"event": {"type": "PrinterStateChanged", "payload": operational}},
            current("Printing", 100.0),  # held back since before the change
            current("Operational", 100.0),
            current("Printing", 1.0),  # caught up: a new print's state is trusted again
        ],
    )
    emitted = [(e.kind, e.payload.get("state"), e.payload.get("completion")) for e in events]
    assert emitted == [
        ("Reachable", None, None),
        ("current", "Printing", 99.0),
        ("PrinterStateChanged", None, None),
        ("current", "Operational", 100.0),
        ("current", "Printing", 1.0),
    ]


def test_offline_after_error_in_current_is_not_taken_for_a_state_held_back() -> None:
    """OctoPrint's ``PrinterStateChanged`` on a printer error says "Offline" (its serial link is
    gone when the event's text is read) while ``current`` says "Offline after error"; an
    offline printer then sends no more ``current`` (nothing changes), so the error's state must
    come from the one that follows the event."""
    events: list[PrinterEvent] = []
    offline = {"state_id": "CLOSED_WITH_ERROR", "state_string": "Offline"}
    subscription = PushSubscription("p1", "http://127.0.0.1:1", "key", on_event=events.append)
    follow(
        subscription,
        [
            {"connected": {}},
            current("Printing", 40.0),
            {"event": {"type": "PrinterStateChanged", "payload": offline}},
            current("Offline after error", None),
        ],
    )
    emitted = [(e.kind, e.payload.get("state")) for e in events]
    assert emitted[-1] == ("current", "Offline after error")
    assert subscription.last_current is not None
    assert subscription.last_current["state"] == "Offline after error"


def test_a_state_change_without_its_state_text_holds_no_current_back() -> None:
    events: list[PrinterEvent] = []
    follow(
        PushSubscription("p1", "http://127.0.0.1:1", "key", on_event=events.append),
        [
            {"connected": {}},
            current("Printing", 99.0),
            {"event": {"type": "PrinterStateChanged", "payload": {}}},
            current("Operational", 100.0),
        ],
    )
    emitted = [(e.kind, e.payload.get("state")) for e in events]
    assert emitted[-1] == ("current", "Operational")
