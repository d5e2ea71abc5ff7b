"""Farm benchmark: how fast and how completely printer state is known, push observer vs naive poller.

``python -m bench.farm_bench [--seconds 60] [--real 10] [--simulated 1000] [--no-write]``

Two scenarios, each in one run with both observers side by side (separate processes):

1. ``--real`` real OctoPrint 1.11.8 servers, every printer printing short dwell jobs (1–3 s) again and
   again (a driver process re-prints 0.05–0.3 s after each PrintDone). Ground truth: each server's
   ``octoprint.log`` ("Changing monitoring state", "Print job done"), millisecond timestamps.
2. ``--simulated`` printers on the farm simulator (4 ports), auto-repeating 20 s ±20 % prints.
   Ground truth: the simulator's ``--state-log``. Mid-window, 10 simulated servers are restarted
   (2 s of start-up replies, then disconnected printers): how fast each observer notices them gone
   and back.

Latency of a state change = first time the observer knew the printer was in that state or a later
one, minus the time the server changed it. Completed prints counted are matched one to one with the
really completed ones. CPU is the observer process's own user+system time over the window.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.procstat import cpu_seconds as process_cpu  # noqa: E402
from bench.procstat import rss_mb as process_rss_mb  # noqa: E402
from bench.report import percentile, write_section  # noqa: E402
from tests.print_farm.octoprint_servers import dwell_gcode, start_servers, stop_servers  # noqa: E402
from tests.print_farm.simulator_process import SimulatorProcess  # noqa: E402

Changes = dict[str, list[tuple[float, str]]]
LOG_LINE = re.compile(
    r"^(\S+ \S+) - \S+ - INFO - (?:Changing monitoring state from \"[^\"]*\" to \"([^\"]*)\"|(Print job done))"
)


def by_key(rows: list[Any]) -> Changes:
    out: Changes = defaultdict(list)
    for t, key, *rest in rows:
        out[key].append((float(t), rest[0] if rest else ""))
    for values in out.values():
        values.sort(key=lambda value: value[0])  # stable: same-time changes keep the log's order
    return out


def latencies(
    truth: Changes, seen: Changes, window: tuple[float, float]
) -> tuple[list[float], int]:
    """Delay until each true change (in the window) was reflected; and how many never were."""
    result, missed = [], 0
    for key, changes in truth.items():
        observed = seen.get(key, [])
        for i, (t, _) in enumerate(changes):
            if not window[0] + 1 <= t <= window[1] - 5:
                continue
            later = changes[i:]
            hit = next(
                (
                    to
                    for to, state in observed
                    if to >= t - 0.01 and any(s == state and ts <= to + 0.01 for ts, s in later)
                ),
                None,
            )
            if hit is None:
                missed += 1
            else:
                result.append(max(0.0, hit - t))
    return result, missed


def counted(
    truth_done: Changes, seen_done: Changes, window: tuple[float, float]
) -> tuple[int, int]:
    """(completed prints the observer counted, prints really completed) in the window."""
    total = hits = 0
    for key, dones in truth_done.items():
        observed = [t for t, _ in seen_done.get(key, [])]
        for i, (t, _) in enumerate(dones):
            if not window[0] + 1 <= t <= window[1] - 5:
                continue
            total += 1
            until = dones[i + 1][0] if i + 1 < len(dones) else t + 30
            match = next((o for o in observed if t - 0.05 <= o < until), None)
            if match is not None:
                hits += 1
                observed.remove(match)
    return hits, total


def role(name: str, targets: Path, out: Path | str, seconds: float) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "bench.farm_roles", name, str(targets), str(out), str(seconds)]
    return subprocess.Popen(command, cwd=ROOT)


def measure(
    targets: Path, workdir: Path, seconds: float, during: Callable[[], None] | None = None
) -> dict[str, dict[str, Any]]:
    outs = {name: workdir / f"{name}.json" for name in ("observe", "poll")}
    processes = [role(name, targets, out, seconds) for name, out in outs.items()]
    if during is not None:
        during()
    for process in processes:
        process.wait(timeout=seconds + 180)
    return {name: json.loads(out.read_text()) for name, out in outs.items()}


def summarise(
    label: str,
    results: dict[str, dict[str, Any]],
    truth: Changes,
    truth_done: Changes,
    printers: int,
) -> list[str]:
    rows, p95s, cpus = [], [], []
    for name, title in (("observe", "fabcoord push observer"), ("poll", "naive poller (baseline)")):
        r = results[name]
        window = (r["window"][0], r["window"][1])
        lat, missed = latencies(truth, by_key(r["changes"]), window)
        hits, total = counted(truth_done, by_key([[t, k] for t, k in r["done"]]), window)
        cpu = 100 * r["cpu_s"] / r["wall_s"]
        p95s.append(percentile(lat, 0.95))
        cpus.append(cpu)
        rows.append(
            f"| {label} | {title} | {percentile(lat, 0.5):.3f} s | {p95s[-1]:.3f} s | "
            f"{max(lat, default=float('nan')):.2f} s | {len(lat)}/{len(lat) + missed} | "
            f"{cpu:.1f} % ({cpu / printers:.3f} %/printer) | {r['rss_mb']:.0f} MB | {hits}/{total} |"
        )
    RATIOS.append(
        f"- {label}: the baseline's p95 is {p95s[1] / max(p95s[0], 1e-3):.1f}× the push observer's; "
        f"its CPU {cpus[1] / max(cpus[0], 1e-3):.1f}× as much."
    )
    return rows


RATIOS: list[str] = []


def parse_octoprint_logs(servers: list[Any]) -> tuple[Changes, Changes]:
    truth: Changes = defaultdict(list)
    done: Changes = defaultdict(list)
    for index, server in enumerate(servers):
        for line in server.octoprint_log.read_text().splitlines():
            match = LOG_LINE.match(line)
            if not match:
                continue
            at = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
            if match.group(2):
                truth[f"octo{index}"].append((at, match.group(2)))
            else:
                done[f"octo{index}"].append((at, ""))
    return truth, done


def run_real(count: int, seconds: float, workdir: Path) -> list[str]:
    servers = start_servers(workdir / "octoprint", count)
    try:
        targets = []
        for index, server in enumerate(servers):
            gcode = dwell_gcode(1000 + (2000 * index) // max(1, count - 1))
            status, _ = upload(server.url, server.api_key, gcode)
            assert status == 201, status
            targets.append({"key": f"octo{index}", "url": server.url, "api_key": server.api_key})
        targets_file = workdir / "real-targets.json"
        targets_file.write_text(json.dumps(targets))
        driver = role("drive", targets_file, "0.3", seconds + 40)
        time.sleep(2)
        results = measure(targets_file, workdir, seconds)
        driver.terminate()
        driver.wait(timeout=30)
    finally:
        stop_servers(servers)
    truth, done = parse_octoprint_logs(servers)
    return summarise(f"{count} real OctoPrint", results, truth, done, count)


def upload(url: str, api_key: str, gcode: bytes) -> tuple[int, bytes]:
    import urllib.request

    boundary = "fabcoordbench"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="select"\r\n\r\ntrue\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="bench.gcode"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + gcode
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(url + "/api/files/local", data=body, method="POST")
    request.add_header("X-Api-Key", api_key)
    request.add_header("Content-Type", f"multipart/form-data; boundary={boundary}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return int(response.status), bytes(response.read())


def run_simulated(count: int, seconds: float, workdir: Path) -> list[str]:
    state_log = workdir / "sim-states.log"
    simulator = SimulatorProcess(printers=count)
    simulator.start(
        "--auto-repeat", "0.3", "--print-seconds", "20", "--jitter", "0.2",
        "--current-interval", "1.0", "--state-log", str(state_log), ports=4,
    )  # fmt: skip
    try:
        targets = [
            {"key": f"p{n}", "url": simulator.url(n), "api_key": simulator.api_key}
            for n in range(count)
        ]
        targets_file = workdir / "sim-targets.json"
        targets_file.write_text(json.dumps(targets))
        assert simulator.process is not None
        pid, cpu0, wall0 = simulator.process.pid, process_cpu(simulator.process.pid), time.time()
        restarted: dict[str, float] = {}

        def restart_some() -> None:
            """Mid-window, restart 10 simulated servers (2 s down), as a crash would."""
            time.sleep(seconds / 2 + 15)
            for n in range(0, count, max(1, count // 10)):
                restarted[f"p{n}"] = time.time()
                simulator.set_fault(n, "restart", RESTART_SECONDS)

        results = measure(targets_file, workdir, seconds, during=restart_some)
        cpu = 100 * (process_cpu(pid) - cpu0) / (time.time() - wall0)
        RATIOS.append(
            f"- the simulator process itself ({count} printers, 4 ports): {cpu:.0f} % of a core "
            f"while connected, printing and polled, RSS {process_rss_mb(pid):.0f} MB."
        )
    finally:
        simulator.stop()
    rows = [line.split() for line in state_log.read_text().splitlines() if line.strip()]
    truth = by_key([[t, key, " ".join(state)] for t, key, *state in rows])
    done = by_key([[t, key] for t, key, *state in rows if state == ["Finishing"]])
    RATIOS.append(outage_line(f"{count} simulated", results, restarted))
    return summarise(f"{count} simulated", results, truth, done, count)


RESTART_SECONDS = 2.0


def outage_line(label: str, results: dict[str, dict[str, Any]], restarted: dict[str, float]) -> str:
    """How fast each observer noticed the restarted printers going away and coming back."""
    parts = []
    for name, title in (("observe", "push observer"), ("poll", "naive poller")):
        events = results[name].get("outages", [])
        down, up = [], []
        for key, at in restarted.items():
            seen = [(t, what) for t, k, what in events if k == key and t >= at - 0.01]
            first_down = next((t for t, what in seen if what == "down"), None)
            if first_down is not None:
                down.append(first_down - at)
                back = next((t for t, w in seen if w == "up" and t > first_down), None)
                if back is not None:
                    up.append(back - (at + RESTART_SECONDS))
        parts.append(
            f"{title} saw {len(down)}/{len(restarted)} go away (max {max(down, default=0):.2f} s) "
            f"and {len(up)} come back (max {max(up, default=0):.2f} s after they answered)"
        )
    return f"- {label}, {len(restarted)} servers restarted mid-window: " + "; ".join(parts) + "."


HEADER = (
    "| printers | observer | state change reflected p50 | p95 | max | changes reflected | "
    "observer CPU (one core) | observer RSS | completed prints counted / really completed |\n"
    "|---|---|---|---|---|---|---|---|---|"
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--real", type=int, default=10)
    parser.add_argument("--simulated", type=int, default=1000)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    rows: list[str] = []
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="farm-bench-") as tmp:
        if args.real:
            rows += run_real(args.real, args.seconds, Path(tmp))
            print("\n".join([HEADER, *rows]), flush=True)
        if args.simulated:
            rows += run_simulated(args.simulated, args.seconds, Path(tmp))
    table = "\n".join([HEADER, *rows])
    print(table)
    print("\n".join(RATIOS))
    if not args.no_write:
        ratios = "\n".join(RATIOS)
        write_section(
            "farm",
            "Print farm: printer state tracking",
            f"{table}\n\nRatios, same run:\n{ratios}\n\n" + NOTES.format(seconds=args.seconds),
            load=load,
        )


NOTES = """\
Window: {seconds:.0f} s per scenario; both observers run at the same time as separate processes on the
same 2 cores as the servers. Real printers print 1–3 s dwell jobs and are re-started 0.05–0.3 s after
each PrintDone by a driver process; simulated printers print 20 s ±20 % jobs with 0–0.3 s gaps (the
simulator's own CPU is given above). "Changes reflected": true state changes (server log or
simulator state log) that the observer learnt, directly or through a later state, within the window.
The naive poller asks `GET /api/job` of each printer in turn, one request at a time, and counts a
print as completed when it catches "Finishing" or "Operational at 100 %" after "Printing". The push
observer is `print_farm.push.PushSubscription` (one socket per printer) feeding a recorder; the
dispatcher's own loop adds its database work on top of this.

Targets (issue 4): 10 real printers: p95 ≤ 0.7 s, CPU ≤ 5 % of a core, 100 % of completed prints
counted; 1,000 simulated: p95 ≤ 1 s, CPU < 50 % of a core, memory < 500 MB.
"""

if __name__ == "__main__":
    main()
