"""One weekly report in a fresh process, as ``fabcoord report weekly`` runs it, for
``bench.report_bench``: prints its timings (wall and CPU per phase) and peak memory as JSON.

    python -m bench.report_child URL OUT FORMAT [CHARTS_DIR]
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def main(url: str, out: str, fmt: str, charts: str = "") -> None:
    """One report, as the command runs it; prints its timings as JSON."""
    started, cpu_started = time.perf_counter(), time.process_time()
    from bench.procstat import peak_rss_mb
    from fabcoord.config import Settings
    from fabcoord.db import make_engine, unit_of_work
    from fabcoord.reports import providers
    from fabcoord.reports.weekly import ReportFormat, ReportRequest, build, write
    from orders import report as orders_report
    from print_farm import report as farm_report

    providers.providers.register("orders", orders_report.figures)
    providers.providers.register("print_farm", farm_report.figures)
    engine = make_engine(Settings(database_url=url))
    imported, cpu_imported = time.perf_counter(), time.process_time()
    with unit_of_work(engine, read_only=True) as session:
        result = build(session=session, request=ReportRequest(), database_url=url)
    computed, cpu_computed = time.perf_counter(), time.process_time()
    write(result, out=Path(out), fmt=ReportFormat(fmt), charts=Path(charts) if charts else None)
    done, cpu_done = time.perf_counter(), time.process_time()
    print(json.dumps({
        "cpu_imports": cpu_imported - cpu_started, "cpu_figures": cpu_computed - cpu_imported,
        "cpu_output": cpu_done - cpu_computed, "cpu": cpu_done,
        "imports": imported - started, "figures": computed - imported, "output": done - computed,
        "peak_mb": peak_rss_mb(os.getpid()), "week": result.figures.scope.week.label,
        "printed": int(result.figures.key.set_index("figure").loc["printed", "value"]),
    }))  # fmt: skip


if __name__ == "__main__":
    main(*sys.argv[1:5])
