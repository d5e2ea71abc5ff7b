"""The report's tables as data: CSV (one file per table), XLSX (one sheet per table) or JSON.

The tables are the very DataFrames the PDF prints. CSV: ``--out report.csv`` writes
``report.csv`` (the key figures) and ``report.<table>.csv`` for every other table; every file is
written whole and renamed into place, and if one fails those already renamed are removed.
"""

from __future__ import annotations

import io
import json
import math
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from fabcoord.reports.output import all_or_nothing, atomic_write
from fabcoord.reports.weekly import WeeklyReport


def write_tables(report: WeeklyReport, out: Path, fmt: str) -> list[Path]:
    tables = {name: _public(frame) for name, frame in report.figures.tables().items()}
    if fmt == "json":
        document = {"meta": meta(report), "tables": {n: _records(f) for n, f in tables.items()}}
        payload = json.dumps(document, ensure_ascii=False, indent=2, default=_json_value)
        return [atomic_write(out, payload.encode())]
    if fmt == "xlsx":
        buffer = io.BytesIO()
        with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
            pd.DataFrame([meta(report)]).T.to_excel(writer, sheet_name="report", header=False)
            for name, frame in tables.items():
                _excel_safe(frame).to_excel(writer, sheet_name=name[:31], index=False)
        return [atomic_write(out, buffer.getvalue())]
    with all_or_nothing() as written:
        for name, frame in tables.items():
            target = out if name == "key_figures" else out.with_name(f"{out.stem}.{name}.csv")
            data = frame.to_csv(index=False).encode()
            written.append(atomic_write(target, data))
    return written


def meta(report: WeeklyReport) -> dict[str, Any]:
    week = report.figures.scope.week
    return {
        "week": week.label,
        "from": week.monday.isoformat(),
        "to": week.days[-1].isoformat(),
        "timezone": "Europe/Paris",
        "scope": report.scope_label,
        "database": report.database,
        "produced_at": report.produced_at.isoformat(),
    }


def _public(frame: pd.DataFrame) -> pd.DataFrame:
    """Internal ids left out: names are what a reader matches on."""
    return frame.drop(columns=[c for c in ("fablab_id", "hospital_id") if c in frame.columns])


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: _json_value(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def _json_value(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return _json_value(value.item())
    return value


def _excel_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Excel keeps no time zones: aware datetimes are written in UTC without one."""
    frame = frame.copy()
    for column in frame.columns:
        if isinstance(frame[column].dtype, pd.DatetimeTZDtype):
            frame[column] = frame[column].dt.tz_convert(None)
        elif frame[column].dtype == object:
            frame[column] = [
                v.replace(tzinfo=None) if isinstance(v, datetime) and v.tzinfo else v
                for v in frame[column]
            ]
    return frame
