"""How soon the command line answers: whole ``fabcoord`` processes, as a user at a terminal runs them.

Median of N runs (10 by default) of each command on a fresh SQLite ledger, beside ``python -c pass``
in the same run as the floor (the interpreter's own start on this machine, at this load). Writes
its section of BENCHMARKS.md unless ``--no-write``.

    python -m bench.cli_startup [--runs 10] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import write_section

FABCOORD = Path(sys.executable).parent / "fabcoord"
TARGETS = {"fabcoord --help": 0.25, "fabcoord stock show --json": 0.35}


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one whole process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return wall, cpu


def measure(runs: int, workdir: Path) -> dict[str, list[tuple[float, float]]]:
    env = {**os.environ, "FABCOORD_DATABASE_URL": f"sqlite:///{workdir / 'ledger.db'}"}
    # as installed for a user: the warm-up run leaves the bytecode of fabcoord's own modules
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run([str(FABCOORD), "init"], env=env, check=True, stdout=subprocess.DEVNULL)
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "fabcoord --help": [str(FABCOORD), "--help"],
        "fabcoord stock show --json": [str(FABCOORD), "stock", "show", "--json"],
        "fabcoord ledger show": [str(FABCOORD), "ledger", "show"],
    }
    for command in commands.values():  # warm the file cache and the bytecode once
        timed(command, env)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(runs):  # interleaved: a burst of load hits every command alike
        for name, command in commands.items():
            times[name].append(timed(command, env))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--no-write", action="store_true", help="Print only.")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="fabcoord-cli-") as folder:
        times = measure(args.runs, Path(folder))
    floor = statistics.median(wall for wall, _ in times["python -c pass"])
    lines = [
        "| command | median wall | min wall | max wall | above the floor | median CPU | target |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, values in times.items():
        walls = [wall for wall, _ in values]
        median = statistics.median(walls)
        cpu = statistics.median(cpu for _, cpu in values)
        target = TARGETS.get(name)
        met = "" if target is None else ("✓" if median <= target else "✗")
        verdict = "" if target is None else f"≤ {target:.2f} s {met}"
        above = "" if name == "python -c pass" else f"{median - floor:.3f} s"
        lines.append(
            f"| `{name}` | {median:.3f} s | {min(walls):.3f} s | {max(walls):.3f} s | {above} | "
            f"{cpu:.3f} s | {verdict} |"
        )
    body = "\n".join(lines) + (
        f"\n\nMedian of {args.runs} whole-process runs each, interleaved, after one warm-up run; "
        "`fabcoord` is the installed console script, on a fresh SQLite ledger (`fabcoord init` "
        "first). `python -c pass` is the floor: the interpreter's own start at the same moment. CPU is user + "
        "system time of the process: on a shared, loaded machine it moves less than wall time.\n"
        "`fabcoord --help` imports no database code; `stock show` and `ledger show` check the "
        "schema with one query of `alembic_version` and import neither Alembic, the dispatcher "
        "nor the web stack (`tests/test_cli_startup.py` asserts which modules they import).\n"
    )
    print(body)
    if not args.no_write:
        write_section("cli-startup", "Command line: time to answer", body, load=load)


if __name__ == "__main__":
    main()
