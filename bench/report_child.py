"""One ``fabcoord report weekly`` in a fresh process, run through the real command line (``cli``),
for ``bench.report_bench``: prints its CPU time per phase and its peak memory as JSON.

The phases are read by wrapping the report's two service calls: *figures* is ``build`` (every
query, the providers and the pandas work), *output* is ``write`` (the PDF with its charts, the
PNG files, or the exports); *start* is all the rest of the process: the interpreter, every
import, the settings and the command line.

    python -m bench.report_child URL OUT FORMAT [CHARTS_DIR]
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any


def main(url: str, out: str, fmt: str, charts: str = "") -> None:
    """One report, as a user runs it; prints its timings as JSON."""
    import cli
    from bench.procstat import cpu_seconds, peak_rss_mb
    from fabcoord.reports import weekly

    spent: dict[str, float] = {}
    built: list[Any] = []

    def timed(name: str, function: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.process_time()
            try:
                result = function(*args, **kwargs)
            finally:
                spent[name] = time.process_time() - started
            if name == "figures":
                built.append(result)
            return result

        return wrapper

    weekly.build = timed("figures", weekly.build)
    weekly.write = timed("output", weekly.write)
    argv = ["--db", url, "report", "weekly", "--out", out, "--format", fmt]
    code = cli.run(argv + (["--charts", charts] if charts else []))
    if code:
        raise SystemExit(code)
    total = cpu_seconds(os.getpid())
    figures = built[0].figures
    print(json.dumps({
        "cpu": total, "cpu_figures": spent["figures"], "cpu_output": spent["output"],
        "cpu_imports": total - spent["figures"] - spent["output"],
        "peak_mb": peak_rss_mb(os.getpid()), "week": figures.scope.week.label,
        "printed": int(figures.key.set_index("figure").loc["printed", "value"]),
    }))  # fmt: skip


if __name__ == "__main__":
    main(*sys.argv[1:5])
