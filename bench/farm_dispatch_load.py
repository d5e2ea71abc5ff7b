"""Dispatcher under load: a farm of real OctoPrint printers printing short jobs without a break.

``python -m bench.farm_dispatch_load [--real 10] [--seconds 60] [--no-write]``

The real ``fabcoord farm run`` process drives ``--real`` OctoPrint 1.11.8 servers (auto-cleared
printers, a queue far longer than the window, 1–3 s dwell prints) on a SQLite database. Measured:
the dispatcher process's CPU (user+system from ``/proc``, over the window after a 5 s warm-up) and
RSS; and completeness: after the window the dispatcher is stopped (SIGTERM) and one
``farm run --once`` pass records what finished meanwhile, then the prints the ledger counts
(``print_output`` postings) are compared with the prints OctoPrint itself logged as done
("Print job done" in each server's ``octoprint.log``), and no job may have two postings.
"""

from __future__ import annotations

import argparse
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

from sqlalchemy import text  # noqa: E402

import print_farm  # noqa: E402
from bench.farm_idle_gap import machine  # noqa: E402
from fabcoord.bootstrap import initialise_database  # noqa: E402
from fabcoord.config import Settings  # noqa: E402
from fabcoord.db import make_engine, unit_of_work  # noqa: E402
from print_farm import registry  # noqa: E402
from tests.print_farm import farm_factories as ff  # noqa: E402
from tests.print_farm.octoprint_servers import dwell_gcode, start_servers, stop_servers  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def done_in_logs(basedir: Path) -> int:
    log = basedir / "logs" / "octoprint.log"
    return len(re.findall(r"Print job done", log.read_text())) if log.exists() else 0


def run(count: int, seconds: float, lengths: list[int], workdir: Path) -> str:
    servers = start_servers(workdir, count)
    try:
        baseline = {s.port: done_in_logs(s.basedir) for s in servers}
        url = f"sqlite:///{workdir / 'load.db'}"
        engine = make_engine(Settings(database_url=url))
        initialise_database(engine, [print_farm.MIGRATIONS])
        farm = ff.make_fablab(engine, "Load Lab")
        ff.stock_filament(engine, farm, lot="LOAD", grams=50_000_000)
        env = dict(os.environ)
        for index, server in enumerate(servers):
            key_env = f"FABCOORD_LOAD_KEY_{index}"
            env[key_env] = os.environ[key_env] = server.api_key
            with unit_of_work(engine) as session:
                registry.add_printer(
                    session=session,
                    spec=registry.PrinterSpec(
                        name=f"octo-{index}",
                        fablab=farm.fablab,
                        url=server.url,
                        api_key_env=key_env,
                        auto_clear=True,
                    ),
                )
            ff.load(engine, f"octo-{index}", lot="LOAD", grams=1_000_000)
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
        cpu0, t0 = cpu_seconds(dispatcher.pid), time.monotonic()
        peak_rss = 0.0
        while time.monotonic() - t0 < seconds:
            time.sleep(1)
            peak_rss = max(peak_rss, rss_mb(dispatcher.pid))
        cpu = (cpu_seconds(dispatcher.pid) - cpu0) / (time.monotonic() - t0)
        dispatcher.send_signal(signal.SIGTERM)
        dispatcher.wait(timeout=30)
        time.sleep(4)  # prints under way finish on the printers
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
        engine.dispose()
    finally:
        stop_servers(servers)
    span = "–".join(f"{ms / 1000:g}" for ms in (min(lengths), max(lengths)) if ms) + " s"
    span = f"{lengths[0] / 1000:g} s" if len(set(lengths)) == 1 else span
    return (
        f"| {count} real OctoPrint | {span} | {cpu * 100:.1f} % "
        f"({cpu * 100 / count:.2f} %/printer) | "
        f"{peak_rss:.0f} MB | {counted}/{logged} | {duplicates} | {frames} |"
    )


HEADER = (
    "| printers | print length | dispatcher CPU (one core) | dispatcher RSS | prints counted in the "
    "ledger / logged done by OctoPrint | jobs posted twice | frames in stock |\n"
    "|---|---|---|---|---|---|---|"
)
NOTES = """\
1-minute load average when the run began: {load:.1f} (2 cores; other work may share them).
Window: {seconds:.0f} s after a 5 s warm-up; the real `fabcoord farm run` process (defaults: push
events, 0.25 s pass, 0.25 s stagger, 5 s safety poll) on SQLite, with the OctoPrint servers on the same
2 cores. Printers are auto-cleared and print back to back: 1, 2 or 3 s dwell jobs (a stress test: the
whole farm starts and records about 3 prints a second, and each print costs a claim, a start, its
confirmation and a ledger posting), then 20 s jobs. After the window the
dispatcher is stopped with SIGTERM, prints under way finish, and one `fabcoord farm run --once` pass
(a new dispatcher) records them: every print OctoPrint logged as done must be in the ledger once.
"""


def write_section(body: str) -> None:
    path = ROOT / "BENCHMARKS.md"
    marker = re.compile(r"<!-- farm-load:start -->.*?<!-- farm-load:end -->", re.DOTALL)
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    section = (
        "<!-- farm-load:start -->\n## Print farm: the dispatcher driving real printers\n\n"
        f"Measured {stamp} on: {machine()}.\n\n{body.strip()}\n<!-- farm-load:end -->"
    )
    text_ = path.read_text() if path.exists() else "# Benchmarks\n"
    text_ = (
        marker.sub(lambda _: section, text_)
        if marker.search(text_)
        else text_.rstrip() + "\n\n" + section + "\n"
    )
    path.write_text(text_)


def main() -> None:
    load = os.getloadavg()[0]
    parser = argparse.ArgumentParser()
    parser.add_argument("--real", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    lines = []
    for lengths in ([1000, 2000, 3000], [20000]):
        with tempfile.TemporaryDirectory(prefix="farm-load-") as tmp:
            lines.append(run(args.real, args.seconds, lengths, Path(tmp)))
            print(lines[-1], flush=True)
    table = "\n".join([HEADER, *lines])
    print(table)
    if not args.no_write:
        write_section(table + "\n\n" + NOTES.format(load=load, seconds=args.seconds))


if __name__ == "__main__":
    main()
