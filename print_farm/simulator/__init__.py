"""A farm simulator: one asyncio server speaking OctoPrint's REST and push API for many printers.

Run it as a process::

    python -m print_farm.simulator --printers 1000 --ports 4 --api-key KEY [--print-seconds S]
        [--time-scale F] [--finishing-seconds S] [--current-interval S] [--disconnected]
        [--state-log FILE] [--fault N=NAME ...] [--auto-repeat GAP] [--jitter F]

It prints one line ``READY {"ports": [...], "printers": N}`` on stdout when it listens; SIGTERM stops
it. Printer ``n`` is at ``http://127.0.0.1:<ports[n % len(ports)]>/p/<n>`` (every port serves every
printer; :func:`printer_url` computes it). A print lasts the file's ``G4`` dwell time (or
``--print-seconds``), times ``--time-scale``. Faults: see :mod:`print_farm.simulator.server`.
``--auto-repeat GAP`` makes every printer print ``auto.gcode`` again and again, 0–GAP s apart (loads
for benchmarks); ``--jitter 0.2`` spreads print times by ±20 %. ``--state-log`` appends
``<time.time()> <printer key> <state>`` for every state change (benchmarks).
Each file keeps OctoPrint's per-file print statistics (``prints: {success, failure, last: {date,
success[, printTime]}}`` in ``GET /api/files/local/<name>``), which survive a simulated restart.
The subset of the API it speaks is checked against a real OctoPrint by the same contract tests.
"""

from __future__ import annotations


def printer_url(ports: list[int], n: int, host: str = "127.0.0.1") -> str:
    """Base URL of simulated printer ``n``."""
    return f"http://{host}:{ports[n % len(ports)]}/p/{n}"


__all__ = ["printer_url"]
