"""Dispatcher CPU per print, without OctoPrint's own CPU in the way: short prints on simulated printers.

``python -m bench.farm_print_cost [--printers 10] [--seconds 30] [--print-seconds 2]
[--db sqlite|postgresql|both] [--profile FILE] [--source DIR]``

The farm simulator (its own process) serves ``--printers`` auto-cleared printers whose prints last
``--print-seconds`` ±50 %; the real ``fabcoord farm run --no-live`` process dispatches a long
queue on a fresh database. Measured: the dispatcher process's CPU (``/proc``) over the window after
a 5 s warm-up, over the prints posted in the window (``print_output`` postings), and the database
transactions per print (commits counted by the dispatcher, ``--profile`` only). A quick
measure for iterating on the per-print path (``farm_dispatch_load`` is the official one, on real
OctoPrint servers). ``--profile FILE`` runs the dispatcher under cProfile on all its threads and
writes the merged statistics to FILE; ``--source DIR`` runs the dispatcher from another source tree
(e.g. ``git archive main`` unpacked: a baseline measured in the same run).
"""

from __future__ import annotations

import argparse
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
from bench.farm_dispatch_load import print_outputs  # noqa: E402
from bench.farm_dispatch_scale import KEY_ENV, Options, set_up  # noqa: E402
from bench.procstat import TICKS, cpu_seconds  # noqa: E402
from fabcoord.config import Settings  # noqa: E402
from fabcoord.db import make_engine  # noqa: E402
from tests.print_farm.simulator_process import SimulatorProcess  # noqa: E402

FABCOORD = str(Path(sys.executable).parent / "fabcoord")
PROFILER = ROOT / "bench" / "profile_threads.py"


def loop_cpu_seconds(pid: int) -> float:
    """CPU of the process's main thread: the dispatcher's event loop (HTTP, push sockets,
    bookkeeping); its other threads run the database work and the lease renewals."""
    fields = Path(f"/proc/{pid}/task/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def run(kind: str, args: argparse.Namespace, workdir: Path) -> str:
    simulator = SimulatorProcess(printers=args.printers)
    simulator.start("--print-seconds", str(args.print_seconds), "--jitter", "0.5", ports=1)
    try:
        with fresh_database(kind, workdir) as url:
            engine = make_engine(Settings(database_url=url))
            try:
                options = Options(args.printers, args.seconds, args.print_seconds, 0.25, 30, 1)
                set_up(engine, simulator, options)
                env = {**os.environ, KEY_ENV: simulator.api_key}
                command = [FABCOORD, "--db", url, "farm", "run", "--no-live", "--owner", "cost"]
                if args.source:  # another version of the code (a baseline in the same run)
                    env["PYTHONPATH"] = str(args.source)
                    command = [sys.executable, "-c", "from cli import main; main()", *command[1:]]
                if args.profile:
                    out = f"{args.profile}.{kind}"
                    env["PROFILE_OUT"] = out
                    command = [sys.executable, str(PROFILER), *command[1:]]
                # run from the source tree: ``python -c`` puts the working directory first on
                # sys.path, which would otherwise import this tree's code, not the other one's
                cwd = str(args.source) if args.source else None
                dispatcher = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, cwd=cwd)
                try:
                    time.sleep(5)
                    cpu0, t0 = cpu_seconds(dispatcher.pid), time.monotonic()
                    loop0, posted0 = loop_cpu_seconds(dispatcher.pid), print_outputs(engine)
                    time.sleep(args.seconds)
                    used = cpu_seconds(dispatcher.pid) - cpu0
                    loop = loop_cpu_seconds(dispatcher.pid) - loop0
                    elapsed = time.monotonic() - t0
                    posted = print_outputs(engine) - posted0
                finally:
                    dispatcher.send_signal(signal.SIGTERM)
                    dispatcher.wait(timeout=60)
            finally:
                engine.dispose()
    finally:
        simulator.stop()

    def per_print(seconds: float) -> str:
        return f"{seconds * 1000 / posted:.1f} ms" if posted else "–"

    return (
        f"| {args.printers} simulated | {kind} | {args.print_seconds:g} s ±50 % | "
        f"{used * 100 / elapsed:.1f} % | {posted} | {per_print(used)} | {per_print(loop)} | "
        f"{per_print(used - loop)} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--printers", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--print-seconds", type=float, default=2)
    parser.add_argument("--db", choices=[*DATABASES, "both"], default="both")
    parser.add_argument("--profile")
    parser.add_argument("--source", type=Path, help="run the dispatcher from this source tree")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}", flush=True)
    print(
        "| printers | database | print length | dispatcher CPU | prints posted | CPU per print "
        "| of which event loop | of which database threads |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for kind in DATABASES if args.db == "both" else [args.db]:
        with tempfile.TemporaryDirectory(prefix="farm-cost-") as tmp:
            print(run(kind, args, Path(tmp)), flush=True)
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
