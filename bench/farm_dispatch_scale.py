"""The real dispatcher at scale: ``fabcoord farm run`` driving 1,000 simulated printers.

``python -m bench.farm_dispatch_scale [--printers 1000] [--seconds 120] [--print-seconds 90]
[--stagger 0.02] [--db sqlite|postgresql|both] [--no-write]``

For each database (a fresh SQLite file, a fresh PostgreSQL database dropped afterwards): the farm
simulator (its own process, 4 ports) serves ``--printers`` auto-cleared printers; a queue longer
than the run is dispatched by the real ``fabcoord farm run --no-live`` process. Measured:

- start-up: dispatcher start until every printer is leased by it and reachable (read in the
  database), and until every printer has started a print (the simulator's state log);
- state known: for every true state change in the window (the simulator's ``--state-log``), the
  time until the dispatcher knew it, read from the database (``farm_printer.state``, which the
  dispatcher writes when a printer's state changes), polled by a thread of this process with one
  query every 40 ms; a later state known counts for the earlier change (as in ``farm_bench``);
- the dispatcher process's CPU (user+system from ``/proc``) over the window and its peak RSS;
- completeness: after the window the dispatcher is stopped (SIGTERM), printers are disabled (no new
  starts), prints under way finish, and one ``farm run --once`` pass records them: prints the
  simulator completed vs ``print_output`` postings, and no job posted twice;
- the naive baseline in the same window: ``bench.farm_roles poll`` (``GET /api/job`` on each printer
  in turn, one request at a time) as its own process, its latency and CPU.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, text  # noqa: E402

from bench.farm_bench import Changes, by_key, latencies, role  # noqa: E402
from bench.farm_db import DATABASES, fresh_database  # noqa: E402
from bench.procstat import cpu_seconds, peak_rss_mb, rss_mb, run_queue_wait_seconds  # noqa: E402
from bench.report import percentile, write_section  # noqa: E402
from fabcoord.config import Settings  # noqa: E402
from fabcoord.db import make_engine, reader, unit_of_work  # noqa: E402
from print_farm import registry, spools  # noqa: E402
from tests.print_farm import farm_factories as ff  # noqa: E402
from tests.print_farm.simulator_process import SimulatorProcess  # noqa: E402

OWNER = "scale"
KEY_ENV = "FABCOORD_SCALE_KEY"
WATCH_PERIOD_S = 0.04
ACTIVE = frozenset({"Starting", "Printing", "Pausing", "Paused", "Cancelling", "Finishing"})
FABCOORD = str(Path(sys.executable).parent / "fabcoord")


@dataclass
class Options:
    printers: int
    seconds: float
    print_seconds: float
    stagger: float
    bring_up: float
    ports: int


class StateLog:
    """The simulator's state log (``<time> <printer key> <state>``), read as it grows."""

    def __init__(self, path: Path) -> None:
        self.path, self._offset = path, 0
        self.rows: list[tuple[float, str, str]] = []
        self.last: dict[str, str] = {}
        self.started: set[str] = set()

    def read(self) -> None:
        if not self.path.exists():
            return
        with self.path.open("rb") as log:
            log.seek(self._offset)
            data = log.read()
        complete = data[: data.rfind(b"\n") + 1]
        self._offset += len(complete)
        for line in complete.decode().splitlines():
            at, key, state = line.split(" ", 2)
            self.rows.append((float(at), key, state))
            self.last[key] = state
            if state == "Printing":
                self.started.add(key)

    def active(self) -> int:
        return sum(1 for state in self.last.values() if state in ACTIVE)

    def truth(self) -> Changes:
        return by_key([[at, key, state] for at, key, state in self.rows])

    def completed(self, start: float = -math.inf, end: float = math.inf) -> int:
        """Prints the simulator completed (within ``[start, end]``)."""
        return sum(1 for at, _, state in self.rows if state == "Finishing" and start <= at <= end)

    def printing_share(self, start: float, end: float, printers: int) -> float:
        """Mean share of the printers in state Printing over ``[start, end]``."""
        busy = 0.0
        since: dict[str, float] = {}
        for at, key, state in self.rows:
            if state == "Printing":
                since[key] = at
            elif key in since:
                begun = since.pop(key)
                busy += max(0.0, min(at, end) - max(begun, start))
        busy += sum(max(0.0, end - max(begun, start)) for begun in since.values())
        return busy / (printers * (end - start))


class Watcher(threading.Thread):
    """What the dispatcher knows, as the database shows it: one query every ``period`` seconds."""

    QUERY = text("SELECT name, state, reachable, lease_owner FROM farm_printer")

    def __init__(self, engine: Engine, printers: int, period: float = WATCH_PERIOD_S) -> None:
        super().__init__(daemon=True)
        self.engine, self.printers, self.period = reader(engine), printers, period
        self.changes: list[tuple[float, str, str]] = []
        self.ready_at: float | None = None  # every printer leased by OWNER and reachable
        self.ready_count = 0
        self.read_at: list[float] = []  # time.time() when each reading returned
        self.query_s: list[float] = []
        self.halt = threading.Event()
        self._last: dict[str, str] = {}

    def gaps(self, start: float, end: float) -> list[float]:
        """Seconds between consecutive readings within ``[start, end]``."""
        inside = [at for at in self.read_at if start <= at <= end]
        return [b - a for a, b in itertools.pairwise(inside)]

    def run(self) -> None:
        next_at = time.monotonic()
        with self.engine.connect() as connection:
            while not self.halt.is_set():
                begun = time.monotonic()
                rows = connection.execute(self.QUERY).all()
                connection.rollback()  # end the read transaction: the next reading is fresh
                at = time.time()
                self.query_s.append(time.monotonic() - begun)
                self.read_at.append(at)
                ready = 0
                for name, state, reachable, owner in rows:
                    if self._last.get(name) != state:
                        self._last[name] = state
                        self.changes.append((at, name, state))
                    ready += bool(reachable) and owner == OWNER
                self.ready_count = ready
                if self.ready_at is None and ready == self.printers:
                    self.ready_at = at
                next_at = max(next_at + self.period, time.monotonic())
                self.halt.wait(next_at - time.monotonic())


@dataclass
class Run:
    """Everything measured for one database."""

    kind: str
    notes: list[str] = field(default_factory=list)
    rows: list[str] = field(default_factory=list)
    farm: str = ""


def set_up(engine: Engine, simulator: SimulatorProcess, options: Options) -> None:
    """A fablab with filament, ``printers`` auto-cleared printers loaded, a long queue."""
    farm = ff.make_fablab(engine, "Scale Lab")
    ff.stock_filament(engine, farm, lot="SCALE", grams=10 * options.printers * 100_000)
    for first in range(0, options.printers, 250):
        with unit_of_work(engine) as session:
            for n in range(first, min(first + 250, options.printers)):
                spec = registry.PrinterSpec(
                    name=f"p{n}",
                    fablab=farm.fablab,
                    url=simulator.url(n),
                    api_key_env=KEY_ENV,
                    auto_clear=True,
                )
                registry.add_printer(session=session, spec=spec)
                session.flush()
                spools.load_spool(
                    session=session,
                    name=f"p{n}",
                    material="petg",
                    lot="SCALE",
                    grams=100_000,
                    actor="bench",
                )
    design = ff.add_design(engine, name="visor-frame-sim", grams=1)
    per_printer = 3 + math.ceil(
        (options.seconds + options.bring_up) / (0.8 * options.print_seconds)
    )
    ff.enqueue(engine, design, 2 * per_printer * options.printers)


def dispatcher_command(url: str, *extra: str) -> list[str]:
    return [FABCOORD, "--db", url, "farm", "run", "--no-live", *extra]


def wait_until(condition: Any, timeout: float, every: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return bool(condition())


def disable_all(engine: Engine, printers: int) -> None:
    with unit_of_work(engine) as session:
        for n in range(printers):
            registry.set_enabled(session=session, name=f"p{n}", enabled=False)


def ledger_counts(engine: Engine) -> tuple[int, int, dict[str, int]]:
    """(print_output postings, jobs posted more than once, jobs by status)."""
    with engine.connect() as connection:
        counted = connection.execute(
            text("SELECT COUNT(*) FROM posting WHERE reason = 'print_output'")
        ).scalar_one()
        twice = connection.execute(
            text(
                "SELECT COUNT(*) FROM (SELECT doc_id FROM posting WHERE reason = 'print_output' "
                "GROUP BY doc_id HAVING COUNT(*) > 1) AS d"
            )
        ).scalar_one()
        rows = connection.execute(text("SELECT status, COUNT(*) FROM farm_job GROUP BY status"))
        statuses = {str(status): int(count) for status, count in rows}
    return int(counted), int(twice), statuses


def tail(path: Path, lines: int = 3) -> str:
    text_ = path.read_text(errors="replace").strip().splitlines() if path.exists() else []
    return " / ".join(line.strip()[:200] for line in text_[-lines:])


def run(kind: str, options: Options, workdir: Path) -> Run:
    result = Run(kind)
    log = StateLog(workdir / f"{kind}-states.log")
    simulator = SimulatorProcess(printers=options.printers)
    simulator.start(
        "--print-seconds", str(options.print_seconds), "--jitter", "0.2", "--current-interval", "0.5",
        "--state-log", str(log.path), ports=options.ports,
    )  # fmt: skip
    try:
        with fresh_database(kind, workdir) as url:
            engine = make_engine(Settings(database_url=url))
            try:
                measure(result, engine, url, simulator, log, options, workdir)
            finally:
                engine.dispose()
    finally:
        simulator.stop()
    return result


def measure(
    result: Run,
    engine: Engine,
    url: str,
    simulator: SimulatorProcess,
    log: StateLog,
    options: Options,
    workdir: Path,
) -> None:
    set_up(engine, simulator, options)
    watcher = Watcher(engine, options.printers)
    watcher.start()
    try:
        _measure(result, engine, url, simulator, log, options, workdir, watcher)
    finally:
        watcher.halt.set()
        watcher.join(timeout=10)


def _measure(
    result: Run,
    engine: Engine,
    url: str,
    simulator: SimulatorProcess,
    log: StateLog,
    options: Options,
    workdir: Path,
    watcher: Watcher,
) -> None:
    n = options.printers
    env = {**os.environ, KEY_ENV: simulator.api_key}
    stderr = workdir / f"{result.kind}-dispatcher.err"
    command = dispatcher_command(url, "--owner", OWNER, "--stagger", str(options.stagger))
    launched, t_launch = time.time(), time.monotonic()
    with stderr.open("wb") as errors:
        dispatcher = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=errors, cwd=ROOT
        )
    pid = dispatcher.pid
    try:
        wait_until(
            lambda: watcher.ready_at is not None or dispatcher.poll() is not None,
            options.bring_up,
        )
        leased = "not reached"
        if watcher.ready_at is not None:
            leased = f"{watcher.ready_at - launched:.1f} s"
        else:
            leased += f" ({watcher.ready_count}/{n} after {options.bring_up:.0f} s)"

        def all_started() -> bool:
            log.read()
            return len(log.started) >= n or dispatcher.poll() is not None

        wait_until(all_started, max(5.0, options.bring_up - (time.monotonic() - t_launch)), 0.5)
        started = len(log.started)
        first_prints = (
            f"{time.time() - launched:.1f} s"
            if started >= n
            else f"not reached ({started}/{n} after {time.monotonic() - t_launch:.0f} s)"
        )
        if dispatcher.poll() is not None:
            raise DispatcherDied(dispatcher.returncode, tail(stderr))
        targets = workdir / f"{result.kind}-targets.json"
        targets.write_text(
            json.dumps(
                [
                    {"key": f"p{i}", "url": simulator.url(i), "api_key": simulator.api_key}
                    for i in range(n)
                ]
            )
        )
        poll_out = workdir / f"{result.kind}-poll.json"
        poller = role("poll", targets, poll_out, options.seconds)
        cpu0, wait0, w0 = cpu_seconds(pid), run_queue_wait_seconds(pid), time.time()
        sim_pid = simulator.process.pid if simulator.process else 0
        sim_cpu0 = cpu_seconds(sim_pid)
        while time.time() - w0 < options.seconds and dispatcher.poll() is None:
            time.sleep(1)
            log.read()
        w1 = time.time()
        alive = dispatcher.poll() is None
        cpu = (cpu_seconds(pid) - cpu0) / (w1 - w0) if alive else math.nan
        waited = (run_queue_wait_seconds(pid) - wait0) / (w1 - w0) if alive else math.nan
        load_after = os.getloadavg()[0]
        peak = peak_rss_mb(pid) if alive else float("nan")
        now_rss = rss_mb(pid) if alive else float("nan")
        sim_cpu = (cpu_seconds(sim_pid) - sim_cpu0) / (w1 - w0)
        dispatcher.send_signal(signal.SIGTERM)
        try:
            exit_code: int | str = dispatcher.wait(timeout=60)
        except subprocess.TimeoutExpired:
            dispatcher.kill()
            exit_code = "killed after 60 s"
        poller.wait(timeout=options.seconds + 120)
    finally:
        if dispatcher.poll() is None:
            dispatcher.kill()
            dispatcher.wait()
    disable_all(engine, n)
    drain_s = options.print_seconds * 1.2 + 15

    def drained() -> bool:
        log.read()
        return log.active() == 0

    drained_ok = wait_until(drained, drain_s, 0.5)
    final = time.monotonic()
    once = subprocess.run(
        dispatcher_command(url, "--once", "--owner", "scale-final"),
        env=env,
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    final_s = time.monotonic() - final
    time.sleep(1)
    watcher.halt.set()
    watcher.join(timeout=10)
    log.read()
    counted, twice, statuses = ledger_counts(engine)
    (workdir / f"{result.kind}-known.json").write_text(json.dumps(watcher.changes))
    truth = log.truth()
    lat, missed = latencies(truth, by_key(list(watcher.changes)), (w0, w1))
    poll = json.loads(poll_out.read_text())
    naive, naive_missed = latencies(truth, by_key(poll["changes"]), tuple(poll["window"]))
    naive_cpu = poll["cpu_s"] / poll["wall_s"]
    share = log.printing_share(w0, w1, n)
    label = f"{n} simulated, {result.kind}"
    result.rows.append(
        f"| {label} | `fabcoord farm run` (database) | {percentile(lat, 0.5):.2f} s | "
        f"{percentile(lat, 0.95):.2f} s | {max(lat, default=math.nan):.2f} s | "
        f"{len(lat)}/{len(lat) + missed} | {100 * cpu:.1f} % | {peak:.0f} MB |"
    )
    result.rows.append(
        f"| {label} | naive poller (baseline) | {percentile(naive, 0.5):.2f} s | "
        f"{percentile(naive, 0.95):.2f} s | {max(naive, default=math.nan):.2f} s | "
        f"{len(naive)}/{len(naive) + naive_missed} | {100 * naive_cpu:.1f} % | "
        f"{poll['rss_mb']:.0f} MB |"
    )
    p95_ratio = percentile(naive, 0.95) / max(percentile(lat, 0.95), 1e-3)
    query_ms = 1000 * statistics.fmean(watcher.query_s) if watcher.query_s else math.nan
    gaps = watcher.gaps(w0, w1)
    result.farm = (
        f"| {result.kind} | {leased} | {first_prints} | {100 * share:.0f} % | "
        f"{log.completed()} / {counted} | {twice} | {final_s:.1f} s |"
    )
    dead = "" if alive else " The dispatcher exited during the window."
    ended = log.completed(w0, w1)
    per_print = f"{1000 * cpu * (w1 - w0) / ended:.0f} ms" if ended else "–"
    result.notes += [
        f"- {result.kind}, targets: state known p95 ≤ 1 s "
        f"{verdict(percentile(lat, 0.95) <= 1.0)} ({percentile(lat, 0.95):.2f} s); CPU < 50 % of "
        f"a core {verdict(cpu < 0.5)} ({100 * cpu:.0f} % used, and {100 * waited:.0f} % of the "
        f"window runnable but waiting for a core); memory < 500 MB {verdict(peak < 500)} "
        f"({peak:.0f} MB peak). {ended} prints ended in the window "
        f"({ended / (w1 - w0):.1f} a second), each then recorded, claimed again and started: "
        f"the window's dispatcher CPU is {per_print} per print ended.",
        f"- {result.kind}: the naive poller's p95 is {p95_ratio:.2f}× the dispatcher's; its CPU "
        f"{naive_cpu / max(cpu, 1e-3):.2f}× as much (above 1: the dispatcher does better). "
        f"1-minute load average {load_after:.1f} at the end of the window; dispatcher RSS then {now_rss:.0f} MB; simulator process {100 * sim_cpu:.0f} % of a core. "
        f"Database read {len(gaps) / (w1 - w0):.1f} times a second in the window (one query "
        f"{query_ms:.1f} ms on average; time between two readings p50 "
        f"{1000 * percentile(gaps, 0.5):.0f} ms, p95 {1000 * percentile(gaps, 0.95):.0f} ms, "
        f"max {1000 * max(gaps, default=math.nan):.0f} ms). Jobs at the end: "
        f"{', '.join(f'{k} {v}' for k, v in sorted(statuses.items()))}. Dispatcher exit "
        f"{exit_code}; final pass exit {once.returncode}; printers idle before it: "
        f"{'yes' if drained_ok else f'no ({log.active()} still printing)'}.{dead}",
    ]
    warnings = tail(stderr, 2)
    if warnings:
        result.notes.append(f"  Last dispatcher log lines: {warnings}")


def verdict(met: bool) -> str:
    return "met" if met else "**not met**"


class DispatcherDied(Exception):
    def __init__(self, code: int, last_lines: str) -> None:
        super().__init__(f"the dispatcher exited with {code} before the window: {last_lines}")


HEADER = (
    "| printers, database | observer | state known p50 | p95 | max | changes known | "
    "CPU (one core) | peak RSS |\n|---|---|---|---|---|---|---|---|"
)
FARM_HEADER = (
    "| database | start-up: all leased and reachable | all printing once | printers printing "
    "over the window (mean) | prints completed by the simulator / counted in the ledger | "
    "jobs posted twice | final `--once` pass |\n|---|---|---|---|---|---|---|"
)
NOTES = """\
1-minute load average when the run began: {load:.1f} (2 cores, shared; the simulator, the
dispatcher, the naive poller and the database watcher all run on them).

Set-up: {printers} printers on the farm simulator (one process, {ports} ports), auto-cleared,
loaded with filament, a queue of more jobs than the run can print; the real `fabcoord farm run
--no-live --stagger {stagger:g}` process with its other defaults (push events, 0.25 s pass, REST
safety poll every 30 s per printer while its push socket is live and 5 s otherwise, 15 s leases).
The simulator's sockets behave as OctoPrint 1.11's: a `current` every 0.5 s × the client's
throttle (fabcoord asks for 4: every 2 s) and only the events subscribed to. Prints last {print_s:g} s ±20 % (a real visor frame takes 20–95 minutes;
{print_s:g} s keeps all the printers printing while every printer still finishes, is recorded and
restarted about {turns:.1f} times in the window, so outcomes, claims and starts are part of the load:
about {rate:.0f} prints end and start per second). `--stagger {stagger:g}`: the default 0.25 s between
two starts caps a dispatcher at 4 starts/s, so 1,000 printers could only all be busy with prints of
250 s or more, and the farm would take 250 s to come up. Window: {seconds:.0f} s, begun once every
printer is leased, reachable and has started a print (or after {bring_up:.0f} s).

"State known": every true state change in the window (simulator state log; the last 5 s excluded)
and the first reading of the database that showed that state or a later one for the printer. The
database is read by a thread of the benchmark, one `SELECT name, state, reachable, lease_owner
FROM farm_printer` every {period:.0f} ms (25 Hz; what the busy machine allowed is given above:
the resolution is the time between two readings).
The naive poller (`bench.farm_roles poll`: `GET /api/job` on each printer in turn, one request at
a time) runs as its own process over the same window, its latency from its own readings.
Completeness: after the window the dispatcher is stopped with SIGTERM, every printer is disabled (so
nothing new starts), prints under way finish, and one `fabcoord farm run --once` pass (a new
dispatcher) records them: every print the simulator completed must be counted once
(`print_output` postings).
"""


def main() -> None:
    load = os.getloadavg()[0]
    parser = argparse.ArgumentParser()
    parser.add_argument("--printers", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--print-seconds", type=float, default=90)
    parser.add_argument("--stagger", type=float, default=0.02)
    parser.add_argument("--bring-up", type=float, default=150, help="longest wait for start-up")
    parser.add_argument("--ports", type=int, default=4)
    parser.add_argument("--db", choices=[*DATABASES, "both"], default="both")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--keep", type=Path, help="keep the logs in this folder (investigation)")
    args = parser.parse_args()
    options = Options(
        args.printers, args.seconds, args.print_seconds, args.stagger, args.bring_up, args.ports
    )
    runs: list[Run] = []
    kinds = DATABASES if args.db == "both" else (args.db,)
    for kind in kinds:
        with tempfile.TemporaryDirectory(prefix="farm-scale-") as tmp:
            workdir = Path(tmp) if args.keep is None else args.keep
            workdir.mkdir(parents=True, exist_ok=True)
            try:
                runs.append(run(kind, options, workdir))
            except DispatcherDied as died:
                runs.append(Run(kind, notes=[f"- {kind}: {died}"]))
        print("\n".join([*runs[-1].rows, runs[-1].farm, *runs[-1].notes]), flush=True)
    table = "\n".join([HEADER, *(row for r in runs for row in r.rows)])
    farm = "\n".join([FARM_HEADER, *(r.farm for r in runs if r.farm)])
    notes = "\n".join(note for r in runs for note in r.notes)
    notes_text = NOTES.format(
        load=load,
        printers=args.printers,
        ports=args.ports,
        stagger=args.stagger,
        print_s=args.print_seconds,
        turns=args.seconds / args.print_seconds,
        rate=args.printers / args.print_seconds,
        seconds=args.seconds,
        bring_up=args.bring_up,
        period=WATCH_PERIOD_S * 1000,
    )
    body = f"{table}\n\n{farm}\n\nSame run:\n{notes}\n\n{notes_text}{TARGETS}"
    print(body)
    if not args.no_write:
        write_section(
            "farm-scale", "Print farm: the dispatcher driving 1,000 simulated printers", body
        )


TARGETS = """
Targets (issue 4), 1,000 simulated printers: every printer's state known within 1 s of its change
(p95), dispatcher CPU under 50 % of one core while all print, memory under 500 MB.
"""

if __name__ == "__main__":
    main()
