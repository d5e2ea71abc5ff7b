"""Dispatcher under load: a farm of real OctoPrint printers printing short jobs without a break.

``python -m bench.farm_dispatch_load [--real 10] [--seconds 60] [--case short|long|both]
[--db sqlite|postgresql|both] [--no-write]``

The real ``fabcoord farm run`` process drives ``--real`` OctoPrint 1.11.8 servers (auto-cleared
printers, a queue far longer than the window) on a fresh SQLite database and a fresh PostgreSQL one
(dropped after). Cases: ``short``, 1–3 s dwell prints (a stress test), and ``long``, 20 s prints.
Measured: the dispatcher process's CPU (user+system from ``/proc``, over the window after a 5 s
warm-up) and peak RSS; and completeness: after the window the dispatcher is stopped (SIGTERM), the
printers are disabled (nothing new starts), prints under way finish, and one ``farm run --once``
pass records them; then the prints the ledger counts (``print_output`` postings) are compared with
the prints OctoPrint itself logged as done ("Print job done" in each server's ``octoprint.log``),
and no job may have two postings.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, text  # noqa: E402

from bench.farm_db import DATABASES, fresh_database  # noqa: E402
from bench.procstat import cpu_seconds, peak_rss_mb  # noqa: E402
from bench.report import postgres_version, write_section  # noqa: E402
from fabcoord.config import Settings  # noqa: E402
from fabcoord.db import make_engine, unit_of_work  # noqa: E402
from print_farm import registry  # noqa: E402
from tests.print_farm import farm_factories as ff  # noqa: E402
from tests.print_farm.octoprint_servers import (  # noqa: E402
    OctoPrintServer,
    dwell_gcode,
    start_servers,
    stop_servers,
)

CASES = {"short": [1000, 2000, 3000], "long": [20000]}


def done_in_logs(basedir: Path) -> int:
    log = basedir / "logs" / "octoprint.log"
    return len(re.findall(r"Print job done", log.read_text())) if log.exists() else 0


def printing(server: OctoPrintServer) -> bool:
    try:
        status, body = server.request("GET", "/api/job")
    except OSError:
        return False
    return status == 200 and str(json.loads(body).get("state", "")).startswith(
        ("Printing", "Starting", "Finishing")
    )


def add_printers(
    engine: Engine,
    farm: ff.Farm,
    servers: list[OctoPrintServer],
    env: dict[str, str],
    *,
    lot: str,
    grams: int,
    auto_clear: bool = False,
) -> None:
    """The servers as the farm's printers ``octo-N``, each loaded with ``grams`` of ``lot``; each
    key goes in ``env`` (the dispatcher's) and this process's environment under its own name."""
    for index, server in enumerate(servers):
        key_env = f"FABCOORD_{lot}_KEY_{index}"
        env[key_env] = os.environ[key_env] = server.api_key
        with unit_of_work(engine) as session:
            registry.add_printer(
                session=session,
                spec=registry.PrinterSpec(
                    name=f"octo-{index}",
                    fablab=farm.fablab,
                    url=server.url,
                    api_key_env=key_env,
                    auto_clear=auto_clear,
                ),
            )
        ff.load(engine, f"octo-{index}", lot=lot, grams=grams)


def print_outputs(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(
                text("SELECT COUNT(*) FROM posting WHERE reason = 'print_output'")
            ).scalar_one()
        )


def run(kind: str, count: int, seconds: float, lengths: list[int], workdir: Path) -> str:
    servers = start_servers(workdir, count)
    try:
        with fresh_database(kind, workdir) as url:
            return measure(kind, servers, url, seconds, lengths)
    finally:
        stop_servers(servers)


def measure(
    kind: str, servers: list[OctoPrintServer], url: str, seconds: float, lengths: list[int]
) -> str:
    count = len(servers)
    baseline = {s.port: done_in_logs(s.basedir) for s in servers}
    engine = make_engine(Settings(database_url=url))
    try:
        farm = ff.make_fablab(engine, "Load Lab")
        ff.stock_filament(engine, farm, lot="LOAD", grams=50_000_000)
        env = dict(os.environ)
        add_printers(engine, farm, servers, env, lot="LOAD", grams=1_000_000, auto_clear=True)
        for ms in lengths:
            design = ff.add_design(engine, name=f"dwell-{ms}", gcode=dwell_gcode(ms), grams=1)
            ff.enqueue(engine, design, 2 * count * int(seconds) // len(lengths) + 2 * count)
        with engine.connect() as connection:  # mix the three lengths in the queue
            ids = [row[0] for row in connection.execute(text("SELECT id FROM farm_job"))]
        random.shuffle(ids)
        with engine.begin() as connection:
            for rank, job_id in enumerate(ids):
                connection.execute(
                    text("UPDATE farm_job SET priority = :p WHERE id = :i"),
                    {"p": -(rank % 997), "i": job_id},
                )
        fabcoord = str(Path(sys.executable).parent / "fabcoord")
        command = [fabcoord, "--db", url, "farm", "run", "--no-live", "--owner", "load"]
        dispatcher = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
        time.sleep(5)
        cpu0, t0, outputs0 = cpu_seconds(dispatcher.pid), time.monotonic(), print_outputs(engine)
        time.sleep(seconds)
        used = cpu_seconds(dispatcher.pid) - cpu0
        cpu = used / (time.monotonic() - t0)
        in_window = print_outputs(engine) - outputs0
        per_print = f"{used * 1000 / in_window:.0f} ms" if in_window else "–"
        peak_rss = peak_rss_mb(dispatcher.pid)
        dispatcher.send_signal(signal.SIGTERM)
        dispatcher.wait(timeout=30)
        with unit_of_work(engine) as session:  # the final pass records, it starts nothing
            for index in range(count):
                registry.set_enabled(session=session, name=f"octo-{index}", enabled=False)
        deadline = time.monotonic() + max(lengths) / 1000 + 15
        while time.monotonic() < deadline and any(printing(s) for s in servers):
            time.sleep(0.5)  # prints under way finish on the printers
        subprocess.run([*command[:-2], "--once", "--owner", "load-final"], env=env, check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        logged = sum(done_in_logs(s.basedir) - baseline[s.port] for s in servers)
        with engine.connect() as connection:
            counted = connection.execute(
                text("SELECT COUNT(*) FROM posting WHERE reason = 'print_output'")
            ).scalar_one()
            duplicates = connection.execute(
                text(
                    "SELECT COUNT(*) FROM (SELECT doc_id FROM posting WHERE reason = "
                    "'print_output' GROUP BY doc_id HAVING COUNT(*) > 1) AS d"
                )
            ).scalar_one()
            frames = connection.execute(
                text(
                    "SELECT COALESCE(SUM(m.qty), 0) FROM stock_move m JOIN location l ON "
                    "l.id = m.location_id JOIN item i ON i.id = m.item_id "
                    "WHERE i.code = 'visor-frame' AND l.code = :stock"
                ),
                {"stock": farm.stock},
            ).scalar_one()
    finally:
        engine.dispose()
    span = "–".join(f"{ms / 1000:g}" for ms in (min(lengths), max(lengths)) if ms) + " s"
    span = f"{lengths[0] / 1000:g} s" if len(set(lengths)) == 1 else span
    return (
        f"| {count} real OctoPrint | {kind} | {span} | {cpu * 100:.1f} % "
        f"({cpu * 100 / count:.2f} %/printer) | {in_window} | {per_print} | "
        f"{peak_rss:.0f} MB | {counted}/{logged} | {duplicates} | {frames} |"
    )


HEADER = (
    "| printers | database | print length | dispatcher CPU (one core) | prints recorded in the window | "
    "dispatcher CPU per print | dispatcher peak RSS | prints counted in the "
    "ledger / logged done by OctoPrint | jobs posted twice | frames in stock |\n"
    "|---|---|---|---|---|---|---|---|---|---|"
)
NOTES = """\
Window: {seconds:.0f} s after a 5 s warm-up; the real `fabcoord farm run` process (defaults: push
events, 0.25 s pass, 0.25 s stagger, REST safety poll every 30 s per printer while its push socket is
live, 5 s otherwise) on a fresh SQLite file or PostgreSQL database
({postgres}, local), with the OctoPrint servers on the same 2 cores. Printers are auto-cleared and
print back to back: 1, 2 or 3 s dwell jobs (a stress test: the whole farm starts and records about
3 prints a second, and each print costs a claim, a start, its confirmation and a ledger posting),
then 20 s jobs. After the window the dispatcher is stopped with SIGTERM, the printers are disabled
(nothing new starts), prints under way finish, and one `fabcoord farm run --once` pass (a new
dispatcher) records them: every print OctoPrint logged as done must be in the ledger once.

Targets (issue 4), 10 real printers: dispatcher CPU ≤ 5 % of a core, 100 % of completed prints
counted (state reflected p95 ≤ 0.7 s: see the push observer in "printer state tracking").

Reading: the dispatcher's CPU is what following the printers costs (push sockets, a REST poll
every 30 s) plus a fixed cost per print (claim, start, confirmation and ledger posting: a few
database transactions; the "per print" column is the window's CPU over the prints recorded in it).
20 s prints are the length of the real visor G-code on the Virtual Printer (20.3 s cold) and far
shorter than a real visor frame (20–95 min): that is the case the 5 % target is judged on. The
1–3 s stress test records about 4 prints a second, and there the per-print cost dominates: it does
not meet 5 %.
"""


def main() -> None:
    load = os.getloadavg()[0]
    parser = argparse.ArgumentParser()
    parser.add_argument("--real", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--case", choices=[*CASES, "both"], default="both")
    parser.add_argument("--db", choices=[*DATABASES, "both"], default="both")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    cases = list(CASES) if args.case == "both" else [args.case]
    kinds = list(DATABASES) if args.db == "both" else [args.db]
    lines = []
    for case in cases:
        for kind in kinds:
            with tempfile.TemporaryDirectory(prefix="farm-load-") as tmp:
                lines.append(run(kind, args.real, args.seconds, CASES[case], Path(tmp)))
                print(lines[-1], flush=True)
    table = "\n".join([HEADER, *lines])
    print(table)
    if not args.no_write:
        notes = NOTES.format(seconds=args.seconds, postgres=postgres_version())
        write_section(
            "farm-load",
            "Print farm: the dispatcher driving real printers",
            f"{table}\n\n{notes}",
            load=load,
        )


if __name__ == "__main__":
    main()
