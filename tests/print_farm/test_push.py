"""Push subscription contract tests, against real OctoPrint 1.11.8 AND the simulator."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from print_farm.push import PrinterEvent, PushSubscription, websocket_url
from tests.print_farm.conftest import SIMULATED_PRINTERS, Target
from tests.print_farm.octoprint_servers import dwell_gcode, free_port
from tests.print_farm.simulator_process import SimulatorProcess


class Recorder:
    """Collects a subscription's events and waits for one matching a condition."""

    def __init__(self) -> None:
        self.events: list[PrinterEvent] = []
        self._changed = asyncio.Event()

    def __call__(self, event: PrinterEvent) -> None:
        self.events.append(event)
        self._changed.set()

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]

    async def wait_for(
        self, match: Callable[[PrinterEvent], bool], timeout: float = 15.0, after: int = 0
    ) -> PrinterEvent:
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events[after:]:
                if match(event):
                    return event
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                got = [(e.kind, e.payload.get("reason", "")) for e in self.events[after:]]
                raise AssertionError(f"no matching event after {after}; got {got}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)


def kind(name: str) -> Callable[[PrinterEvent], bool]:
    return lambda event: event.kind == name


def test_websocket_url_keeps_the_path_prefix() -> None:
    assert websocket_url("http://127.0.0.1:5000/p/7/") == "ws://127.0.0.1:5000/p/7/sockjs/websocket"
    assert websocket_url("https://farm.example/o") == "wss://farm.example/o/sockjs/websocket"


def test_push_reports_print_started_and_done(target: Target) -> None:
    async def scenario() -> None:
        recorder = Recorder()
        subscription = PushSubscription("printer-1", target.url, target.api_key, on_event=recorder)
        task = asyncio.create_task(subscription.run())
        try:
            await recorder.wait_for(kind("Reachable"))
            current = await recorder.wait_for(kind("current"))
            assert current.payload["state"] == "Operational"
            async with target.client() as client:
                await client.upload("push.gcode", dwell_gcode(1000), print_after=True)
            started = await recorder.wait_for(kind("PrintStarted"))
            done = await recorder.wait_for(kind("PrintDone"))
            assert started.payload["name"] == done.payload["name"] == "push.gcode"
            assert done.received_at >= started.received_at
            assert done.key == "printer-1"
            final = await recorder.wait_for(
                lambda e: e.kind == "current" and e.payload["state"] == "Operational",
                after=recorder.events.index(done),
            )
            assert final.payload["completion"] == 100.0
        finally:
            await subscription.stop()
            await asyncio.wait_for(task, 5)

    asyncio.run(scenario())


def test_push_reports_cancel_and_failure(target: Target) -> None:
    async def scenario() -> None:
        queue: asyncio.Queue[PrinterEvent] = asyncio.Queue()
        recorder = Recorder()
        subscription = PushSubscription(
            "p", target.url, target.api_key, on_event=recorder, queue=queue
        )
        task = asyncio.create_task(subscription.run())
        try:
            await recorder.wait_for(kind("Reachable"))
            async with target.client() as client:
                await client.upload("cancel.gcode", dwell_gcode(3000), print_after=True)
                await recorder.wait_for(kind("PrintStarted"))
                await client.cancel()
                await recorder.wait_for(kind("PrintCancelled"))
                failed = await recorder.wait_for(kind("PrintFailed"))
                await recorder.wait_for(
                    lambda e: e.kind == "current" and e.payload["state"] == "Operational",
                    after=recorder.events.index(failed),
                )
                mark = len(recorder.events)
                await client.select("cancel.gcode", print_after=True)
                await recorder.wait_for(kind("PrintStarted"), after=mark)
                await client.send_commands(["!!DEBUG:trigger_fatal_error_marlin"])
                await recorder.wait_for(kind("PrintFailed"), after=mark)
                await recorder.wait_for(kind("Disconnected"), after=mark)
            assert queue.qsize() == len(recorder.events)
        finally:
            await subscription.stop()
            await asyncio.wait_for(task, 5)

    asyncio.run(scenario())


def test_push_marks_a_killed_server_unreachable_then_reconnects(target: Target) -> None:
    async def scenario() -> None:
        recorder = Recorder()
        subscription = PushSubscription("p", target.url, target.api_key, on_event=recorder)
        task = asyncio.create_task(subscription.run())
        try:
            await recorder.wait_for(kind("Reachable"))
            await asyncio.to_thread(target.kill)
            await recorder.wait_for(kind("Unreachable"), timeout=20)
            assert subscription.reachable is False
            await asyncio.sleep(1.0)
            assert recorder.kinds().count("Unreachable") == 1  # once per outage, not per retry
            mark = len(recorder.events)
            await asyncio.to_thread(target.revive)
            await recorder.wait_for(kind("Reachable"), after=mark, timeout=20)
            assert subscription.reachable is True
        finally:
            await subscription.stop()
            await asyncio.wait_for(task, 5)

    asyncio.run(scenario())


def test_push_follows_a_server_restarted_mid_print(target: Target) -> None:
    async def scenario() -> None:
        recorder = Recorder()
        subscription = PushSubscription("p", target.url, target.api_key, on_event=recorder)
        task = asyncio.create_task(subscription.run())
        try:
            await recorder.wait_for(kind("Reachable"))
            async with target.client() as client:
                await client.upload("restart.gcode", dwell_gcode(5000), print_after=True)
            await recorder.wait_for(kind("PrintStarted"))
            await asyncio.to_thread(target.restart)
            gone = await recorder.wait_for(kind("Unreachable"), timeout=30)
            # "Reachable" may already be recorded when this task wakes up: look from "gone" on
            mark = recorder.events.index(gone) + 1
            back = await recorder.wait_for(kind("Reachable"), after=mark, timeout=30)
            # a server just restarted may first tell it is still opening its serial connection
            settled = await recorder.wait_for(
                lambda e: (
                    e.kind == "current"
                    and e.payload["state"] not in ("Opening serial connection", "Connecting")
                ),
                after=recorder.events.index(back),
            )
            assert settled.payload["state"] in ("Operational", "Offline")
            async with target.client() as client:
                job = await client.job()
            assert not job.is_printing and not job.finished  # the print was lost with the server
        finally:
            await subscription.stop()
            await asyncio.wait_for(task, 5)

    asyncio.run(scenario())


def test_push_to_a_closed_port_is_unreachable_and_stops_cleanly() -> None:
    async def scenario() -> None:
        recorder = Recorder()
        url = f"http://127.0.0.1:{free_port()}"
        subscription = PushSubscription("p", url, "key", on_event=recorder, timeout=1)
        task = asyncio.create_task(subscription.run())
        event = await recorder.wait_for(kind("Unreachable"))
        assert "reason" in event.payload
        await subscription.stop()
        await asyncio.wait_for(task, 2)

    asyncio.run(scenario())


def test_push_with_wrong_key_is_unreachable(target: Target) -> None:
    async def scenario() -> None:
        recorder = Recorder()
        subscription = PushSubscription("p", target.url, "wrong", on_event=recorder)
        task = asyncio.create_task(subscription.run())
        event = await recorder.wait_for(kind("Unreachable"))
        assert "login" in str(event.payload["reason"])
        await subscription.stop()
        await asyncio.wait_for(task, 2)

    asyncio.run(scenario())


def test_push_marks_a_silent_socket_unreachable(farm_simulator: SimulatorProcess) -> None:
    n = SIMULATED_PRINTERS - 2

    async def scenario() -> None:
        recorder = Recorder()
        subscription = PushSubscription(
            "p", farm_simulator.url(n), farm_simulator.api_key, on_event=recorder, stall_timeout=1.5
        )
        task = asyncio.create_task(subscription.run())
        try:
            await recorder.wait_for(kind("Reachable"))
            await asyncio.to_thread(farm_simulator.set_fault, n, "hang")
            event = await recorder.wait_for(kind("Unreachable"), timeout=10)
            assert "Timeout" in str(event.payload["reason"]) or event.payload["reason"]
            await asyncio.to_thread(farm_simulator.set_fault, n, None)
            await recorder.wait_for(kind("Reachable"), after=recorder.events.index(event))
        finally:
            await asyncio.to_thread(farm_simulator.set_fault, n, None)
            await subscription.stop()
            await asyncio.wait_for(task, 5)

    asyncio.run(scenario())


def test_a_failing_event_handler_does_not_break_the_subscription(
    farm_simulator: SimulatorProcess,
) -> None:
    async def scenario() -> None:
        recorder = Recorder()

        async def handler(event: PrinterEvent) -> None:
            recorder(event)
            raise RuntimeError("bug in the handler")

        subscription = PushSubscription(
            "p",
            farm_simulator.url(SIMULATED_PRINTERS - 3),
            farm_simulator.api_key,
            on_event=handler,
        )
        task = asyncio.create_task(subscription.run())
        try:
            await recorder.wait_for(kind("Reachable"))
            await recorder.wait_for(kind("current"))
            await asyncio.sleep(1.2)  # heartbeats keep arriving on the same socket
            assert "Unreachable" not in recorder.kinds()
            assert subscription.reachable is True
        finally:
            await subscription.stop()
            await asyncio.wait_for(task, 5)

    asyncio.run(scenario())


def test_a_print_and_a_cancel_give_the_same_events(target: Target) -> None:
    """The simulator emits the real server's events for a print and for a cancel.

    Real OctoPrint fires events from several threads, so the kinds and their counts are compared,
    and the start coming before the end, not the exact interleaving.
    """

    def story(events: list[PrinterEvent]) -> list[str]:
        return [
            str(e.payload["state_string"]) if e.kind == "PrinterStateChanged" else e.kind
            for e in events
            if e.kind == "PrinterStateChanged" or e.kind.startswith("Print")
        ]

    async def told(recorder: Recorder, mark: int, expected: list[str], end: str) -> None:
        deadline = time.monotonic() + 15
        while sorted(story(recorder.events[mark:])) != sorted(expected):
            assert time.monotonic() < deadline, story(recorder.events[mark:])
            await asyncio.sleep(0.05)
        got = story(recorder.events[mark:])
        assert got.index("PrintStarted") < got.index(end)

    async def scenario() -> None:
        recorder = Recorder()
        subscription = PushSubscription("p", target.url, target.api_key, on_event=recorder)
        task = asyncio.create_task(subscription.run())
        try:
            await recorder.wait_for(kind("Reachable"))
            mark = len(recorder.events)
            async with target.client() as client:
                await client.upload("story.gcode", dwell_gcode(500), print_after=True)
                done = ["Starting", "PrintStarted", "Printing", "Finishing", "PrintDone"]
                await told(recorder, mark, [*done, "Operational"], "PrintDone")
                mark = len(recorder.events)
                await client.select("story.gcode", print_after=True)
                await recorder.wait_for(kind("PrintStarted"), after=mark)
                await client.cancel()
                cancelled = ["Starting", "PrintStarted", "Printing", "PrintCancelling"]
                cancelled += ["Cancelling", "PrintCancelled", "PrintFailed", "Operational"]
                await told(recorder, mark, cancelled, "PrintCancelled")
        finally:
            await subscription.stop()
            await asyncio.wait_for(task, 5)

    asyncio.run(scenario())
