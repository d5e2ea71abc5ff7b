"""The simulator keeps many printers printing, and the push observer follows every one of them."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from print_farm.push import PrinterEvent, PushSubscription
from tests.print_farm.simulator_process import SimulatorProcess

PRINTERS = 100


def test_every_simulated_print_is_seen_by_push() -> None:
    simulator = SimulatorProcess(printers=PRINTERS)
    simulator.start("--auto-repeat", "0.2", "--print-seconds", "0.5", "--finishing-seconds", "0.1")
    try:
        done: Counter[str] = Counter()
        reachable: set[str] = set()

        def on_event(event: PrinterEvent) -> None:
            if event.kind == "PrintDone":
                done[event.key] += 1
            elif event.kind == "Reachable":
                reachable.add(event.key)

        async def scenario() -> None:
            subscriptions = [
                PushSubscription(f"p{n}", simulator.url(n), simulator.api_key, on_event=on_event)
                for n in range(PRINTERS)
            ]
            tasks = [asyncio.create_task(s.run()) for s in subscriptions]
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and (
                len(reachable) < PRINTERS or min(done[f"p{n}"] for n in range(PRINTERS)) < 2
            ):
                await asyncio.sleep(0.1)
            for subscription in subscriptions:
                await subscription.stop()
            await asyncio.gather(*tasks)

        asyncio.run(scenario())
        assert len(reachable) == PRINTERS
        assert all(done[f"p{n}"] >= 2 for n in range(PRINTERS)), done
    finally:
        simulator.stop()
