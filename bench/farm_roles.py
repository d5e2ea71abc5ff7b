"""Processes of the farm benchmark: each runs alone so that its CPU time is its own.

``python -m bench.farm_roles ROLE TARGETS.json OUT.json SECONDS``

- ``observe``: fabcoord's push observer (one :class:`PushSubscription` per printer);
- ``poll``: the naive baseline: ``GET /api/job`` on each printer in turn, one request at a time;
- ``drive``: keeps real OctoPrint printers busy (re-prints the selected file after each PrintDone).

``observe`` and ``poll`` write ``{"changes": [[t, key, state]], "done": [[t, key]], "cpu_s", "wall_s",
"rss_mb"}``: every state change they learnt, every completed print they counted (``time.time()``).
"""

from __future__ import annotations

import asyncio
import json
import random
import resource
import sys
import time
from pathlib import Path
from typing import Any

from print_farm.errors import OctoPrintError
from print_farm.octoprint import OctoPrintClient
from print_farm.push import PrinterEvent, PushSubscription


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def raise_file_limit() -> None:
    """A thousand sockets need more than the usual 1,024 descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else min(65536, hard)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


class Recorder:
    def __init__(self) -> None:
        self.changes: list[tuple[float, str, str]] = []
        self.done: list[tuple[float, str]] = []
        self.last: dict[str, str] = {}
        self.outages: list[tuple[float, str, str]] = []
        self.down: set[str] = set()

    def link(self, at: float, key: str, up: bool) -> None:
        """Record when the observer learnt that a printer went away ("down") or came back ("up")."""
        if up and key in self.down:
            self.down.discard(key)
            self.outages.append((at, key, "up"))
        elif not up and key not in self.down:
            self.down.add(key)
            self.outages.append((at, key, "down"))

    def state(self, at: float, key: str, state: str) -> None:
        if state and self.last.get(key) != state:
            self.last[key] = state
            self.changes.append((at, key, state))


async def observe(targets: list[dict[str, str]], seconds: float, out: Path) -> None:
    recorder = Recorder()
    reachable: set[str] = set()

    def on_event(event: PrinterEvent) -> None:
        if event.kind == "PrinterStateChanged":
            recorder.state(event.received_at, event.key, str(event.payload.get("state_string")))
        elif event.kind == "current":
            recorder.state(event.received_at, event.key, str(event.payload.get("state")))
        elif event.kind == "PrintDone":
            recorder.done.append((event.received_at, event.key))
        elif event.kind == "Reachable":
            reachable.add(event.key)
            recorder.link(event.received_at, event.key, up=True)
        elif event.kind == "Unreachable":
            recorder.link(event.received_at, event.key, up=False)

    subscriptions = [
        PushSubscription(t["key"], t["url"], t["api_key"], on_event=on_event) for t in targets
    ]
    tasks = [asyncio.create_task(s.run()) for s in subscriptions]
    deadline = time.monotonic() + 60
    while len(reachable) < len(targets) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    await _measure(recorder, seconds, out, started=len(reachable))
    for subscription in subscriptions:
        await subscription.stop()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _measure(recorder: Recorder, seconds: float, out: Path, started: int) -> None:
    cpu0, wall0 = _cpu(), time.time()
    await asyncio.sleep(seconds)
    cpu1, wall1 = _cpu(), time.time()
    result: dict[str, Any] = {
        "changes": recorder.changes,
        "done": recorder.done,
        "outages": recorder.outages,
        "cpu_s": cpu1 - cpu0,
        "wall_s": wall1 - wall0,
        "window": [wall0, wall1],
        "rss_mb": _rss_mb(),
        "connected": started,
    }
    out.write_text(json.dumps(result))


async def poll(targets: list[dict[str, str]], seconds: float, out: Path) -> None:
    recorder = Recorder()
    clients = [(t["key"], OctoPrintClient(t["url"], t["api_key"], timeout=5)) for t in targets]
    stop = asyncio.Event()

    async def loop() -> None:
        seen_printing: dict[str, bool] = {}
        while not stop.is_set():
            for key, client in clients:
                try:
                    job = await client.job()
                except OctoPrintError:
                    recorder.link(time.time(), key, up=False)
                    continue
                now = time.time()
                recorder.link(now, key, up=True)
                recorder.state(now, key, job.state)
                # Naive completion count: catch "Finishing", or Operational at 100 % after Printing.
                if job.state == "Finishing" or (job.finished and seen_printing.get(key)):
                    if seen_printing.get(key):
                        recorder.done.append((now, key))
                    seen_printing[key] = False
                elif job.state == "Printing":
                    seen_printing[key] = True

    task = asyncio.create_task(loop())
    await _measure(recorder, seconds, out, started=len(clients))
    stop.set()
    await task
    for _, client in clients:
        await client.aclose()


async def drive(targets: list[dict[str, str]], seconds: float, gap: float) -> None:
    """Re-print each printer's selected file ``uniform(0.05, gap)`` s after every PrintDone."""
    clients = {t["key"]: OctoPrintClient(t["url"], t["api_key"]) for t in targets}

    async def reprint(key: str) -> None:
        await asyncio.sleep(random.uniform(0.05, gap))
        for _ in range(50):
            try:
                await clients[key].start()
                return
            except OctoPrintError:
                await asyncio.sleep(0.1)

    def on_event(event: PrinterEvent) -> None:
        if event.kind == "PrintDone":
            asyncio.get_running_loop().create_task(reprint(event.key))

    subscriptions = [
        PushSubscription(t["key"], t["url"], t["api_key"], on_event=on_event) for t in targets
    ]
    tasks = [asyncio.create_task(s.run()) for s in subscriptions]
    for key in clients:
        asyncio.get_running_loop().create_task(reprint(key))
    await asyncio.sleep(seconds)
    for subscription in subscriptions:
        await subscription.stop()
    await asyncio.gather(*tasks, return_exceptions=True)
    for client in clients.values():
        await client.aclose()


def main() -> None:
    role, targets_file, out, seconds = sys.argv[1:5]
    targets = json.loads(Path(targets_file).read_text())
    raise_file_limit()
    if role == "observe":
        asyncio.run(observe(targets, float(seconds), Path(out)))
    elif role == "poll":
        asyncio.run(poll(targets, float(seconds), Path(out)))
    elif role == "drive":
        asyncio.run(drive(targets, float(seconds), float(out)))
    else:
        raise SystemExit(f"unknown role {role}")


if __name__ == "__main__":
    main()
