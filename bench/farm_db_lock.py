"""The database write-locked for 10 s under a dispatcher driving 1,000 simulated printers.

``python -m bench.farm_db_lock [--printers 1000] [--lock 10] [--before 30] [--after 20]
[--db sqlite|postgresql|both] [--no-write]``

For each database: the farm simulator (its own process, 4 ports) serves auto-cleared printers
printing ``--print-seconds`` jobs from a queue longer than the run; a dispatcher process (the real
:class:`print_farm.dispatcher.Dispatcher`, its defaults: 15 s leases, push events, 0.25 s pass;
``--stagger 0.02`` as in ``farm_dispatch_scale``) drives them. Once every printer is leased and
printing, ``--before`` seconds run unlocked, then this process takes the whole database's write lock
for ``--lock`` seconds (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: every table ``LOCK ... IN EXCLUSIVE
MODE``), then ``--after`` seconds run unlocked again. Measured in the same run:

- state known: for every true state change (the simulator's state log), the time until the
  dispatcher's tracker knew it (the dispatcher process logs each printer state its tracker takes
  from push events or REST readings), for changes during the lock and for those of the unlocked
  ``--before`` phase (the baseline);
- push messages handled each second, during the lock and before it; the event loop's longest stall
  (a 50 ms heartbeat's lateness);
- leases: printers whose ``lease_owner`` was ever not the dispatcher's, or whose lease had expired
  by the database's clock, at any reading (one every 0.25 s by a thread of this process);
- prints the simulator completed vs ``print_output`` postings after a final ``--once`` pass, and
  jobs posted twice.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, text  # noqa: E402

from bench.farm_bench import by_key, latencies  # noqa: E402
from bench.farm_db import DATABASES, fresh_database  # noqa: E402
from bench.farm_dispatch_scale import (  # noqa: E402
    KEY_ENV,
    Options,
    StateLog,
    disable_all,
    dispatcher_command,
    ledger_counts,
    set_up,
    wait_until,
)
from bench.report import percentile, write_section  # noqa: E402
from fabcoord.config import Settings  # noqa: E402
from fabcoord.db import make_engine, reader  # noqa: E402
from tests.print_farm.simulator_process import SimulatorProcess  # noqa: E402

OWNER = "lockbench"


# --- the dispatcher process ---------------------------------------------------------------


def dispatch(url: str, out: Path, stagger: float) -> None:
    """Run a dispatcher until SIGTERM; write what its trackers knew, and when, to ``out``."""
    from print_farm import dispatcher as farm
    from print_farm.push import PushSubscription
    from print_farm.tracker import Tracked

    known: list[tuple[float, str, str]] = []
    last: dict[str, str] = {}
    handled: list[float] = []
    stalls: list[tuple[float, float]] = []  # (when, how late a 50 ms heartbeat woke)

    def noting(method: Any) -> Any:
        def wrapper(self: Tracked, *args: Any) -> Any:
            result = method(self, *args)
            if last.get(self.name) != self.state:
                last[self.name] = self.state
                known.append((time.time(), self.name, self.state))
            return result

        return wrapper

    for name in ("apply_event", "apply_job", "mark_unreachable"):
        setattr(Tracked, name, noting(getattr(Tracked, name)))
    dispatch_message = PushSubscription._dispatch

    async def counted(self: PushSubscription, message: dict[str, Any]) -> None:
        await dispatch_message(self, message)
        handled.append(time.time())

    PushSubscription._dispatch = counted  # type: ignore[method-assign]
    engine = make_engine(Settings(database_url=url))
    config = farm.DispatcherConfig(owner=OWNER, actor="bench", stagger_s=stagger)
    worker = farm.Dispatcher(engine, config)

    async def heartbeat(stop: asyncio.Event) -> None:
        while not stop.is_set():
            begun = time.monotonic()
            await asyncio.sleep(0.05)
            late = time.monotonic() - begun - 0.05
            if late > 0.02:
                stalls.append((time.time(), late))

    closing = [0.0]  # when SIGTERM came

    def write() -> None:
        closing[0] = time.monotonic()
        out.write_text(
            json.dumps(
                {"known": known, "handled": handled, "stalls": stalls, "stats": dict(worker.stats)}
            )
        )

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, lambda: (write(), stop.set()))
        beat = asyncio.create_task(heartbeat(stop))
        await worker.run(stop=stop)
        await beat
        print(f"stopped {time.monotonic() - closing[0]:.1f} s after SIGTERM", file=sys.stderr)

    try:
        with asyncio.Runner(loop_factory=farm.new_event_loop) as runner:
            runner.run(main())
    finally:
        engine.dispose()


# --- the benchmark ------------------------------------------------------------------------


class LeaseWatch(threading.Thread):
    """Reads every printer's lease every 0.25 s: who holds it, and whether it has expired."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(daemon=True)
        self.engine = reader(engine)
        self.halt = threading.Event()
        self.lost: set[str] = set()  # printers seen held by another, free, or expired
        self.readings: list[float] = []
        self.armed = False  # counting starts once every printer was leased

    def run(self) -> None:
        query = text("SELECT name, lease_owner, lease_expires_at FROM farm_printer")
        clock = text("SELECT clock_timestamp()")
        with self.engine.connect() as connection:
            postgres = connection.dialect.name == "postgresql"
            while not self.halt.wait(0.25):
                rows = connection.execute(query).all()
                now = connection.execute(clock).scalar_one() if postgres else datetime.now(UTC)
                connection.rollback()
                self.readings.append(time.time())
                if not self.armed:
                    continue
                for name, owner, expires in rows:
                    if isinstance(expires, str):  # SQLite, read without the model's types
                        expires = datetime.fromisoformat(expires)
                    if expires is not None and expires.tzinfo is None:
                        expires = expires.replace(tzinfo=UTC)
                    if owner != OWNER or expires is None or expires <= now:
                        self.lost.add(name)


def hold_lock(url: str, seconds: float) -> tuple[float, float]:
    """Take the whole database's write lock for ``seconds``; return when it was held."""
    engine = make_engine(Settings(database_url=url))
    try:
        if engine.dialect.name == "sqlite":
            raw = engine.raw_connection()
            try:
                cursor = raw.cursor()
                cursor.execute("BEGIN IMMEDIATE")
                start = time.time()
                time.sleep(seconds)
                cursor.execute("ROLLBACK")
                return start, time.time()
            finally:
                raw.close()
        with engine.connect() as connection:
            tables = connection.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
            ).scalars()
            names = ", ".join(f'"{name}"' for name in tables)
            connection.execute(text(f"LOCK TABLE {names} IN EXCLUSIVE MODE"))
            start = time.time()
            time.sleep(seconds)
            connection.rollback()
            return start, time.time()
    finally:
        engine.dispose()


@dataclass
class Args:
    printers: int
    lock: float
    before: float
    after: float
    print_seconds: float
    stagger: float
    bring_up: float


def run(kind: str, args: Args, workdir: Path) -> tuple[str, str]:
    log = StateLog(workdir / f"{kind}-states.log")
    simulator = SimulatorProcess(printers=args.printers)
    simulator.start(
        "--print-seconds", str(args.print_seconds), "--jitter", "0.2",
        "--state-log", str(log.path), ports=4,
    )  # fmt: skip
    try:
        with fresh_database(kind, workdir) as url:
            engine = make_engine(Settings(database_url=url))
            try:
                return measure(kind, url, engine, simulator, log, args, workdir)
            finally:
                engine.dispose()
    finally:
        simulator.stop()


def measure(
    kind: str,
    url: str,
    engine: Engine,
    simulator: SimulatorProcess,
    log: StateLog,
    args: Args,
    workdir: Path,
) -> tuple[str, str]:
    seconds = args.before + args.lock + args.after
    options = Options(args.printers, seconds, args.print_seconds, args.stagger, args.bring_up, 4)
    set_up(engine, simulator, options)
    out = workdir / f"{kind}-dispatcher.json"
    stderr = workdir / f"{kind}-dispatcher.err"
    env = {**os.environ, KEY_ENV: simulator.api_key}
    command = [sys.executable, "-m", "bench.farm_db_lock", "dispatch", url, str(out)]
    with stderr.open("wb") as errors:
        child = subprocess.Popen([*command, str(args.stagger)], env=env, stderr=errors, cwd=ROOT)
    watch = LeaseWatch(engine)
    watch.start()
    try:

        def ready() -> bool:
            log.read()
            return len(log.started) >= args.printers or child.poll() is not None

        wait_until(ready, args.bring_up, 0.5)
        if child.poll() is not None:
            raise RuntimeError(f"the dispatcher exited: {stderr.read_text()[-400:]}")
        started = len(log.started)
        watch.armed = True
        w0 = time.time()
        time.sleep(args.before)
        l0, l1 = hold_lock(url, args.lock)
        time.sleep(args.after)
        watch.armed = False  # a clean exit gives the leases back: not a loss
        time.sleep(0.3)
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=120)
        except subprocess.TimeoutExpired:
            child.kill()  # what it knew was written when SIGTERM came
    finally:
        watch.halt.set()
        watch.join(timeout=5)
        if child.poll() is None:
            child.kill()
            child.wait()
    disable_all(engine, args.printers)

    def drained() -> bool:
        log.read()
        return log.active() == 0

    wait_until(drained, args.print_seconds * 1.2 + 15, 0.5)
    subprocess.run(
        dispatcher_command(url, "--once", "--owner", "lockbench-final"),
        env=env, capture_output=True, check=False, cwd=ROOT,
    )  # fmt: skip
    log.read()
    counted, twice, _ = ledger_counts(engine)
    result = json.loads(out.read_text())
    truth, known = log.truth(), by_key(result["known"])
    before, before_missed = latencies(truth, known, (w0, l0 + 1))  # changes until l0 - 4
    during, during_missed = latencies(truth, known, (l0 - 1, l1 + 5))  # changes in [l0, l1]
    handled = result["handled"]
    rate_before = sum(1 for t in handled if w0 <= t < l0) / (l0 - w0)
    rate_during = sum(1 for t in handled if l0 <= t <= l1) / (l1 - l0)

    def stall(start: float, end: float) -> float:
        return max((late for at, late in result["stalls"] if start <= at <= end), default=0.0)

    label = f"{args.printers} simulated, {kind}"
    row = (
        f"| {label} | {l1 - l0:.1f} s | {percentile(before, 0.5):.2f} / "
        f"{percentile(before, 0.95):.2f} s ({len(before)} changes) | "
        f"{percentile(during, 0.5):.2f} / {percentile(during, 0.95):.2f} s ({len(during)} changes) | "
        f"{rate_before:.0f} / {rate_during:.0f} | {1000 * stall(w0, l0):.0f} / "
        f"{1000 * stall(l0, l1):.0f} ms | {len(watch.lost)} | {log.completed()} / {counted} | "
        f"{twice} |"
    )
    note = (
        f"- {kind}: {started} of {args.printers} printers printing when the window began; "
        f"state changes never known: {before_missed} before, {during_missed} during the lock; "
        f"lease readings {len(watch.readings)}; dispatcher stats {result['stats']}; "
        f"dispatcher exit {child.returncode} ({stderr.read_text().strip()[-120:] or 'no log'}); "
        f"p95 during / before the lock: "
        f"{percentile(during, 0.95) / max(percentile(before, 0.95), 1e-3):.2f}×."
    )
    return row, note


HEADER = (
    "| printers, database | lock held | state known p50 / p95, unlocked (same run) | "
    "state known p50 / p95, during the lock | push messages handled per second, unlocked / "
    "locked | longest loop stall, unlocked / locked | leases lost | prints completed / counted "
    "| jobs posted twice |\n|---|---|---|---|---|---|---|---|---|"
)
NOTES = """\
1-minute load average when the run began: {load:.1f} (2 cores, shared).

Set-up: {printers} printers on the farm simulator (one process, 4 ports), auto-cleared, loaded, a
queue longer than the run; prints of {print_s:g} s ±20 %. A dispatcher process runs the real
`Dispatcher` with its defaults (15 s leases, database waits bounded at a quarter lease, push
events, 0.25 s pass), `--stagger {stagger:g}`. Once every printer has started a print: {before:g} s
unlocked, then this benchmark holds the whole database's write lock for {lock:g} s (SQLite
`BEGIN IMMEDIATE`; PostgreSQL every table `IN EXCLUSIVE MODE`), then {after:g} s unlocked.
"State known" is the dispatcher's own knowledge (its trackers, fed by push events and REST
readings), logged by the dispatcher process for each state change; the unlocked column covers the
changes of the {before:g} s before the lock, the locked one the changes during it. A lease is
"lost" if any reading (every 0.25 s, a plain read the lock lets through) showed it held by another,
free, or expired by the database's clock. The prints are then finished and a `--once` pass records
them: every print the simulator completed must be counted once.

Goals (issue 13): state known p95 unchanged during the lock; 0 leases lost.
"""


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "dispatch":
        dispatch(sys.argv[2], Path(sys.argv[3]), float(sys.argv[4]))
        return
    load = os.getloadavg()[0]
    parser = argparse.ArgumentParser()
    parser.add_argument("--printers", type=int, default=1000)
    parser.add_argument("--lock", type=float, default=10.0)
    parser.add_argument("--before", type=float, default=30.0)
    parser.add_argument("--after", type=float, default=20.0)
    parser.add_argument("--print-seconds", type=float, default=60.0)
    parser.add_argument("--stagger", type=float, default=0.02)
    parser.add_argument("--bring-up", type=float, default=150.0)
    parser.add_argument("--db", choices=[*DATABASES, "both"], default="both")
    parser.add_argument("--no-write", action="store_true")
    parsed = parser.parse_args()
    args = Args(
        parsed.printers, parsed.lock, parsed.before, parsed.after, parsed.print_seconds,
        parsed.stagger, parsed.bring_up,
    )  # fmt: skip
    rows, notes = [], []
    for kind in DATABASES if parsed.db == "both" else (parsed.db,):
        with tempfile.TemporaryDirectory(prefix="farm-lock-") as tmp:
            row, note = run(kind, args, Path(tmp))
        print(row, note, sep="\n", flush=True)
        rows.append(row)
        notes.append(note)
    body = "\n".join([HEADER, *rows, "", "Same run:", *notes, ""]) + "\n" + NOTES.format(
        load=load, printers=args.printers, print_s=args.print_seconds, stagger=args.stagger,
        before=args.before, lock=args.lock, after=args.after,
    )  # fmt: skip
    print(body)
    if not parsed.no_write:
        write_section(
            "farm-db-lock", "Print farm: the database locked for 10 s under 1,000 printers", body
        )


if __name__ == "__main__":
    main()
