"""Writing benchmark results into BENCHMARKS.md, one marked section per benchmark."""

from __future__ import annotations

import os
import platform
import re
import sqlite3
import statistics
import subprocess
from datetime import UTC, datetime
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"
HEADER = (
    "# Benchmarks\n\n"
    "Figures written by the scripts in `bench/` (`make bench`). Each section names the machine and "
    "the date it was measured on. Shared, noisy machines: read the ratios to the raw-SQL or naive "
    "baselines run in the same process, not the absolute numbers alone.\n"
)


def machine() -> str:
    """One line naming the machine: CPU, cores, memory, OS, Python, SQLite."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        memory_kb = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{memory_kb / 1024 / 1024:.0f} GiB"
    except OSError:
        memory = "?"
    return (
        f"{cpu}, {os.cpu_count()} cores, {memory} RAM, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}"
    )


def postgres_version(url: str = "") -> str:
    """The local PostgreSQL client version line (the server is the same install here)."""
    try:
        done = subprocess.run(["psql", "--version"], capture_output=True, text=True, check=False)
        return done.stdout.strip() or "PostgreSQL"
    except OSError:
        return "PostgreSQL"


def percentile(values: list[float], fraction: float) -> float:
    """The ``fraction`` quantile (nearest rank) of ``values``; NaN when there are none."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def summary_ms(values: list[float]) -> str:
    return (
        f"p50 {percentile(values, 0.5) * 1000:.2f} ms, p95 {percentile(values, 0.95) * 1000:.2f} ms, "
        f"mean {statistics.fmean(values) * 1000:.2f} ms"
    )


def write_section(name: str, title: str, body: str, *, load: float | None = None) -> None:
    """Replace (or add) the section ``name`` of BENCHMARKS.md.

    Args:
        load: the 1-minute load average when the run began (``os.getloadavg()[0]``), noted under
            the machine when given.
    """
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    busy = (
        ""
        if load is None
        else (
            f" 1-minute load average when the run began: {load:.1f} ({os.cpu_count()} cores, shared)."
        )
    )
    section = (
        f"<!-- {name}:start -->\n## {title}\n\nMeasured {stamp} on: {machine()}.{busy}\n\n"
        f"{body.strip()}\n<!-- {name}:end -->"
    )
    text = BENCHMARKS.read_text(encoding="utf-8") if BENCHMARKS.exists() else HEADER
    pattern = re.compile(rf"<!-- {name}:start -->.*?<!-- {name}:end -->", re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text)
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    BENCHMARKS.write_text(text, encoding="utf-8")
