"""What following real printers costs the dispatcher (the fixed part of its CPU, without prints).

``python -m bench.farm_follow_cost [--real 10] [--seconds 40] [--case idle|printing|both]
[--db sqlite|postgresql] [--code DIR ...] [--profile PREFIX]``

The real ``fabcoord farm run`` process follows ``--real`` OctoPrint 1.11.8 servers that are idle
(no job queued: it only follows them) or each on one long print (a 15-minute dwell job per
printer, started by the dispatcher during the warm-up; nothing ends in the window). Measured: the
dispatcher's CPU (user+system from ``/proc``) over the window after a warm-up. ``--code`` runs the
dispatcher from other source trees too (``PYTHONPATH``, e.g. an unpacked ``git archive`` of a
base commit), alternating with this one on the same servers, for a before/after under the same
load. ``--profile PREFIX`` runs each dispatcher under ``bench/profile_threads.py`` (pstats to
``PREFIX-<n>.prof``; the profiler's overhead inflates the CPU figures).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.farm_db import DATABASES, fresh_database  # noqa: E402
from bench.farm_dispatch_load import add_printers, printing  # noqa: E402
from bench.procstat import cpu_seconds  # noqa: E402
from fabcoord.config import Settings  # noqa: E402
from fabcoord.db import make_engine  # noqa: E402
from tests.print_farm import farm_factories as ff  # noqa: E402
from tests.print_farm.octoprint_servers import (  # noqa: E402
    OctoPrintServer,
    dwell_gcode,
    start_servers,
    stop_servers,
)

LONG_MS = 15 * 60 * 1000


def prepare(url: str, servers: list[OctoPrintServer], printing: bool, env: dict[str, str]) -> None:
    engine = make_engine(Settings(database_url=url))
    try:
        farm = ff.make_fablab(engine, "Follow Lab")
        ff.stock_filament(engine, farm, lot="FOLLOW", grams=1_000_000)
        add_printers(engine, farm, servers, env, lot="FOLLOW", grams=100_000)
        if printing:
            design = ff.add_design(engine, name="dwell-long", gcode=dwell_gcode(LONG_MS), grams=1)
            ff.enqueue(engine, design, 2 * len(servers))  # frames: two per print
    finally:
        engine.dispose()


def cancel_prints(servers: list[OctoPrintServer]) -> None:
    for server in servers:
        with contextlib.suppress(OSError):
            server.request("POST", "/api/job", {"command": "cancel"})


def one_run(
    url: str,
    code: str | None,
    env: dict[str, str],
    warmup: float,
    seconds: float,
    profile: str,
    extra: list[str],
) -> float:
    run_env = dict(env)
    if code:
        run_env["PYTHONPATH"] = code
    args = ["--db", url, "farm", "run", "--no-live", "--owner", f"follow-{time.time_ns()}", *extra]
    if profile:
        run_env["PROFILE_OUT"] = profile
        command = [sys.executable, str(ROOT / "bench" / "profile_threads.py"), *args]
    else:
        command = [sys.executable, "-c", "import sys; from cli import main; main()", *args]
    process = subprocess.Popen(
        command, env=run_env, cwd=code or tempfile.gettempdir(), stdout=subprocess.DEVNULL
    )
    try:
        time.sleep(warmup)
        cpu0, t0 = cpu_seconds(process.pid), time.monotonic()
        time.sleep(seconds)
        used = cpu_seconds(process.pid) - cpu0
        return used / (time.monotonic() - t0)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--real", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=40)
    parser.add_argument("--warmup", type=float, default=10)
    parser.add_argument("--case", choices=["idle", "printing", "both"], default="both")
    parser.add_argument("--db", choices=DATABASES, default="sqlite")
    parser.add_argument("--code", nargs="*", default=[], help="other source trees to compare")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--profile", default="")
    parser.add_argument("--run-args", default="", help="more `farm run` options, one string")
    args = parser.parse_args()
    cases = ["idle", "printing"] if args.case == "both" else [args.case]
    codes: list[str | None] = [None, *args.code]
    extra = args.run_args.split()
    with tempfile.TemporaryDirectory(prefix="farm-follow-") as tmp:
        servers = start_servers(Path(tmp), args.real)
        try:
            for case in cases:
                for round_ in range(args.rounds):
                    for n, code in enumerate(codes):
                        env = dict(os.environ)
                        with fresh_database(args.db, Path(tmp)) as url:
                            prepare(url, servers, case == "printing", env)
                            profile = f"{args.profile}-{case}-{n}.prof" if args.profile else ""
                            load = os.getloadavg()[0]
                            cpu = one_run(url, code, env, args.warmup, args.seconds, profile, extra)
                            busy = sum(printing(server) for server in servers)
                        cancel_prints(servers)
                        print(
                            f"{case:8} {args.db:10} round {round_} code {code or 'this tree'}: "
                            f"{cpu * 100:.2f} % of a core, {busy} printing after (load {load:.2f})",
                            flush=True,
                        )
                        time.sleep(2)
        finally:
            stop_servers(servers)


if __name__ == "__main__":
    main()
