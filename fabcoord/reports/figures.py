"""The weekly figures, computed once with pandas; the PDF, the charts and the exports all read them.

Definitions (quantities in the item's base unit; a reversal counts against what it cancels):

- frames printed: ``print_output`` legs of parts at the scope's real locations;
- visors assembled: ``assembly`` legs of finished items at the scope's real locations;
- shipped: pieces that ``shipment`` postings took out of the scope's stock locations;
- delivered: pieces that reached a hospital's location (``hospital/<slug>``), whatever the posting;
- handed off: pieces partners delivered (``handoff`` postings) to the scope's stock or hospitals;
- released: visors of the batches that passed their inspection in the week (core batches);
- scrap: material grams that failed prints (``print_scrap``) took from the scope's printers;
- material stock: balance at the scope's stock, printer and transit locations at the week's end;
  consumed: material that prints, assemblies and scrap took from them during the week; days of
  cover: stock / (consumed / 7);
- demand per hospital: as of the week's end when the orders' provider states it (``ordered`` and
  ``needed_by`` per hospital, from the orders' event log), else the core's demand lines as they
  stand now (rejected and cancelled lines left out); delivered and fill rate as of the week's end
  (from the ledger); open = ordered − delivered, not below 0;
- failure rate: failed prints / (finished + failed prints) of the week.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import pandas as pd
from sqlmodel import Session

from fabcoord.clock import as_utc
from fabcoord.reports import ledger_frames as lf
from fabcoord.reports.providers import ProviderRegistry, Scope, collect
from fabcoord.reports.week import paris_midnight

PIECES = "pcs"
_WITHDRAWN = {"rejected", "cancelled"}
_REAL_HOLDING = {"stock", "printer", "transit"}


@dataclass
class WeeklyFigures:
    """Every table of a weekly report (pandas DataFrames), ready to print or export."""

    scope: Scope
    key: pd.DataFrame
    daily: pd.DataFrame
    trend: pd.DataFrame
    materials: pd.DataFrame
    hospitals: pd.DataFrame
    fablabs: pd.DataFrame
    suppliers: pd.DataFrame
    batches: pd.DataFrame
    extra: dict[str, pd.DataFrame] = field(default_factory=dict)
    provided: frozenset[str] = frozenset()
    demand_as_of_week: bool = False

    @property
    def active(self) -> bool:
        """Anything was printed, assembled, shipped, delivered or handed off in the week."""
        values = self.key.set_index("figure")["value"]
        return any(
            isinstance(v, (int, float)) and not math.isnan(v) and v != 0
            for k, v in values.items()
            if k in {"printed", "assembled", "shipped", "delivered", "handed_off", "scrap_g"}
        )

    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables exported by ``--format csv|xlsx|json``, by name."""
        return {
            "key_figures": self.key,
            "daily_production": self.daily,
            "trend": self.trend,
            "materials": self.materials,
            "hospitals": self.hospitals,
            "fablabs": self.fablabs,
            "suppliers_partners": self.suppliers,
            "batches": self.batches,
            **self.extra,
        }


def compute(
    *, session: Session, scope: Scope, registry: ProviderRegistry | None = None
) -> WeeklyFigures:
    """Read the ledger, the demand and the providers once, and derive every table."""
    places = lf.locations(session)
    things = lf.items(session)
    window = _annotate(lf.window_moves(session, scope), places, things)
    after = _annotate(lf.moves_since(session, scope.end), places, things)
    now = _annotate(lf.balances_now(session), places, things)
    counts = lf.print_counts(session, scope)
    released = lf.released_batches(session, scope)
    provided = collect(session=session, scope=scope, registry=registry)
    labs = lf.fablabs(session)
    if scope.fablab_ids is not None:
        labs = labs[labs["fablab_id"].isin(scope.fablab_ids)]
    in_scope = _in_scope(scope)
    week = window[window["bucket"] >= lf.DAY_BUCKET]
    previous = window[window["bucket"] == lf.DAY_BUCKET - 1]
    per_lab = _fablab_table(labs, week, counts, provided.get("fablabs", []), in_scope)
    hospitals = _hospital_table(session, scope, window, after, now, provided)
    materials = _materials(week, after, now, in_scope)
    trend = _trend(scope, window, after, now, provided)
    key = _key_figures(
        scope, week, previous, counts, released, hospitals, materials, per_lab, trend, in_scope
    )
    known = {"hospitals", "fablabs", "ordered_cumulative", "capacity_weekly", "suppliers"}
    extra = {
        name: pd.DataFrame(rows) for name, rows in provided.items() if name not in known and rows
    }
    return WeeklyFigures(
        scope=scope,
        key=key,
        daily=_daily(scope, week, labs, in_scope),
        trend=trend,
        materials=materials,
        hospitals=hospitals,
        fablabs=per_lab,
        suppliers=_suppliers(week, in_scope, _hospital_scope(scope), provided.get("suppliers", [])),
        batches=_batches(released, labs),
        extra=extra,
        provided=frozenset(name for name, rows in provided.items() if rows),
        demand_as_of_week=demand_as_of_week(provided),
    )


def _annotate(moves: pd.DataFrame, places: pd.DataFrame, things: pd.DataFrame) -> pd.DataFrame:
    merged = moves.merge(places, on="location_id", how="left").merge(
        things, on="item_id", how="left"
    )
    if "cause" in merged:
        merged["cause"] = merged["cause"].astype(str)
    return merged


def _in_scope(scope: Scope) -> Any:
    """A function: which rows of an annotated frame are at the scope's real holding locations."""

    def select(frame: pd.DataFrame) -> pd.Series:
        held = frame["kind"].isin(_REAL_HOLDING)
        if scope.fablab_ids is None:
            return held
        return held & frame["fablab_id"].isin(scope.fablab_ids)

    return select


def _hospital_scope(scope: Scope) -> frozenset[int] | None:
    """The hospitals whose hand-offs count: the region's; none with only a fablab chosen."""
    if scope.fablab_ids is not None and scope.hospital_ids is None:
        return frozenset()
    return scope.hospital_ids


def _sum(frame: pd.DataFrame) -> int:
    return int(frame["qty"].sum()) if len(frame) else 0


def _printed(frame: pd.DataFrame, in_scope: Any) -> pd.DataFrame:
    return frame[
        (frame["cause"] == "print_output") & (frame["item_kind"] == "part") & in_scope(frame)
    ]


def _assembled(frame: pd.DataFrame, in_scope: Any) -> pd.DataFrame:
    return frame[
        (frame["cause"] == "assembly") & (frame["item_kind"] == "finished") & in_scope(frame)
    ]


def _out_of_stock(frame: pd.DataFrame, cause: str, in_scope: Any) -> pd.DataFrame:
    """Legs of ``cause`` postings at the scope's stock locations, signed as quantity taken out."""
    chosen = frame[
        (frame["cause"] == cause)
        & (frame["kind"] == "stock")
        & (frame["unit"] == PIECES)
        & in_scope(frame)
    ].copy()
    chosen["qty"] = -chosen["qty"]
    return chosen


def _delivered(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[(frame["kind"] == "hospital") & (frame["unit"] == PIECES)]


def _scrap(frame: pd.DataFrame, in_scope: Any) -> int:
    chosen = frame[
        (frame["cause"] == "print_scrap") & (frame["item_kind"] == "material") & in_scope(frame)
    ]
    return -_sum(chosen)


def _daily(scope: Scope, week: pd.DataFrame, labs: pd.DataFrame, in_scope: Any) -> pd.DataFrame:
    printed = _printed(week, in_scope)
    days = scope.week.days
    grouped = (
        printed.groupby(["bucket", "fablab_id"])["qty"].sum().reset_index()
        if len(printed)
        else pd.DataFrame(columns=["bucket", "fablab_id", "qty"])
    )
    grouped = grouped.merge(labs[["fablab_id", "fablab"]], on="fablab_id", how="left")
    grouped["day"] = [days[int(b) - lf.DAY_BUCKET] for b in grouped["bucket"]]
    out = grouped.rename(columns={"qty": "frames"})[["day", "fablab", "frames"]]
    out = out[out["frames"] != 0]
    return out.sort_values(["day", "fablab"]).reset_index(drop=True)


def _fablab_table(
    labs: pd.DataFrame,
    week: pd.DataFrame,
    counts: pd.DataFrame,
    provided: list[dict[str, Any]],
    in_scope: Any,
) -> pd.DataFrame:
    table = labs[["fablab_id", "fablab", "region"]].copy()

    def per_lab(frame: pd.DataFrame, name: str) -> None:
        nonlocal table
        sums = frame.groupby("fablab_id")["qty"].sum().rename(name)
        table = table.merge(sums, left_on="fablab_id", right_index=True, how="left")

    per_lab(_printed(week, in_scope), "printed")
    per_lab(_assembled(week, in_scope), "assembled")
    per_lab(_out_of_stock(week, "shipment", in_scope), "shipped")
    this_week = counts[counts["bucket"] == 1]
    for reason, name in (("print_output", "prints"), ("print_scrap", "failures")):
        sums = this_week[this_week["reason"] == reason].groupby("fablab_id")["prints"].sum()
        table = table.merge(sums.rename(name), left_on="fablab_id", right_index=True, how="left")
    for column in ("printed", "assembled", "shipped", "prints", "failures"):
        table[column] = table[column].fillna(0).astype("int64")
    attempts = table["prints"] + table["failures"]
    table["failure_rate"] = (table["failures"] / attempts.where(attempts > 0)).round(4)
    table["printers"] = pd.NA
    table["utilisation"] = float("nan")
    if provided:
        extra = pd.DataFrame(provided).groupby("fablab_id").first()
        for column in ("printers", "printing_hours", "utilisation"):
            if column in extra:
                table[column] = table["fablab_id"].map(extra[column])
    columns = ["fablab", "region", "printers", "printed", "assembled", "shipped", "prints"]
    columns += ["failures", "failure_rate", "utilisation"]
    if "printing_hours" in table:
        columns.insert(3, "printing_hours")
    return table.sort_values("fablab")[["fablab_id", *columns]].reset_index(drop=True)


def _hospital_table(
    session: Session,
    scope: Scope,
    window: pd.DataFrame,
    after: pd.DataFrame,
    now: pd.DataFrame,
    provided: dict[str, list[dict[str, Any]]],
) -> pd.DataFrame:
    names = lf.hospitals(session)
    if scope.hospital_ids is not None:
        names = names[names["hospital_id"].isin(scope.hospital_ids)]
    given = pd.DataFrame(provided.get("hospitals", []))
    if demand_as_of_week(provided):  # the orders, as they stood at the week's end
        per_hospital = given.groupby("hospital_id")
        ordered = per_hospital["ordered"].sum().rename("ordered")
        needed = per_hospital["needed_by"].min().rename("needed_by")
    else:  # the core's demand lines, as they stand now
        demand = lf.demand(session)
        live = demand[~demand["status"].isin(_WITHDRAWN)]
        ordered = live.groupby("hospital_id")["quantity"].sum().rename("ordered")
        open_lines = live[live["state"].isin({"open", "pending"})]
        needed = open_lines.groupby("hospital_id")["needed_by"].min().rename("needed_by")
    week = window[window["bucket"] >= lf.DAY_BUCKET]
    delivered_week = _delivered(week).groupby("hospital_id")["qty"].sum().rename("delivered_week")
    total_now = _delivered(now).groupby("hospital_id")["qty"].sum()
    since_end = _delivered(after).groupby("hospital_id")["qty"].sum()
    delivered = total_now.sub(since_end, fill_value=0).rename("delivered")
    table = names.copy()
    for series in (ordered, delivered_week, delivered, needed):
        table = table.merge(series, left_on="hospital_id", right_index=True, how="left")
    for column in ("ordered", "delivered_week", "delivered"):
        table[column] = table[column].fillna(0).astype("int64")
    table["open"] = (table["ordered"] - table["delivered"]).clip(lower=0)
    table["fill_rate"] = (table["delivered"] / table["ordered"].where(table["ordered"] > 0)).round(
        4
    )
    table["expected_delivery"] = None
    table["oldest_open"] = None
    if not given.empty:
        extra = given.groupby("hospital_id").first()
        for column in ("expected_delivery", "oldest_open", "orders_received"):
            if column in extra:
                table[column] = table["hospital_id"].map(extra[column])
    table = table[(table["ordered"] > 0) | (table["delivered"] > 0)]
    columns = ["hospital_id", "hospital", "region", "ordered", "delivered_week", "delivered"]
    columns += ["open", "fill_rate", "needed_by", "expected_delivery", "oldest_open"]
    return table.sort_values(["open", "hospital"], ascending=[False, True])[columns].reset_index(
        drop=True
    )


def demand_as_of_week(provided: dict[str, list[dict[str, Any]]]) -> bool:
    """Whether a provider stated the orders as of the week's end (``ordered`` per hospital)."""
    return any("ordered" in row for row in provided.get("hospitals", []))


def _materials(
    week: pd.DataFrame, after: pd.DataFrame, now: pd.DataFrame, in_scope: Any
) -> pd.DataFrame:
    def materials(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[(frame["item_kind"] == "material") & in_scope(frame)]

    stock = materials(now).groupby(["item", "unit"])["qty"].sum()
    later = materials(after).groupby(["item", "unit"])["qty"].sum()
    at_end = stock.sub(later, fill_value=0).rename("stock")
    used = materials(week)
    used = used[used["cause"].isin({"print_output", "assembly", "print_scrap"})]
    consumed = (-used.groupby(["item", "unit"])["qty"].sum()).rename("consumed")
    table = pd.concat([at_end, consumed], axis=1).fillna(0).reset_index()
    if table.empty:
        return pd.DataFrame(columns=["item", "unit", "stock", "consumed", "per_day", "days_cover"])
    table.columns = ["item", "unit", "stock", "consumed"]
    table[["stock", "consumed"]] = table[["stock", "consumed"]].astype("int64")
    per_day = table["consumed"] / 7
    table["per_day"] = per_day.round(1)
    table["days_cover"] = (table["stock"] / per_day.where(per_day > 0)).round(1)
    return table.sort_values("item").reset_index(drop=True)


def _trend(
    scope: Scope,
    window: pd.DataFrame,
    after: pd.DataFrame,
    now: pd.DataFrame,
    provided: dict[str, list[dict[str, Any]]],
) -> pd.DataFrame:
    weeks = list(scope.trend_weeks)
    week_index = window["bucket"].clip(upper=lf.DAY_BUCKET)
    window = window.assign(week=week_index)
    printed = _printed(window, _in_scope(scope)).groupby("week")["qty"].sum()
    hospital_ids = scope.hospital_ids

    def deliveries(frame: pd.DataFrame) -> pd.DataFrame:
        chosen = _delivered(frame)
        return chosen if hospital_ids is None else chosen[chosen["hospital_id"].isin(hospital_ids)]

    per_week = deliveries(window).groupby("week")["qty"].sum()
    at_end = _sum(deliveries(now)) - _sum(deliveries(after))
    delivered_cum: list[int] = []
    running = at_end
    for index in reversed(range(len(weeks))):
        delivered_cum.append(running)
        running -= int(per_week.get(index, 0))
    delivered_cum.reverse()
    table = pd.DataFrame(
        {
            "week": [w.label for w in weeks],
            "week_start": [w.monday for w in weeks],
            "printed": [int(printed.get(i, 0)) for i in range(len(weeks))],
            "delivered": [int(per_week.get(i, 0)) for i in range(len(weeks))],
            "delivered_cumulative": delivered_cum,
        }
    )
    table["ordered_cumulative"] = _by_week(provided.get("ordered_cumulative", []), "ordered", weeks)
    table["backlog"] = (table["ordered_cumulative"] - table["delivered_cumulative"]).clip(lower=0)
    table["capacity"] = _by_week(provided.get("capacity_weekly", []), "capacity", weeks)
    return table


def _by_week(rows: list[dict[str, Any]], column: str, weeks: list[Any]) -> list[float]:
    values: dict[date, float] = {}
    for row in rows:
        start = row["week_start"]
        values[start] = values.get(start, 0.0) + float(row[column])
    return [values.get(w.monday, float("nan")) for w in weeks]


def _suppliers(
    week: pd.DataFrame, in_scope: Any, hospital_ids: Any, provided: list[dict[str, Any]]
) -> pd.DataFrame:
    """Per supplier and partner, from their providers; a kind no provider answered for is shown
    as the ledger's total of the week (receipts; units partners delivered)."""
    answered = {row.get("kind", "supplier") for row in provided}
    rows: list[dict[str, Any]] = []
    if "supplier" not in answered:
        received = week[(week["cause"] == "receipt") & in_scope(week)]
        for item, qty in received.groupby(["item", "unit"])["qty"].sum().items():
            rows.append({"kind": "supplier", "name": "(réceptions du grand livre)", "item": item[0], "unit": item[1], "ordered": None, "received": int(qty)})  # fmt: skip
    if "partner" not in answered:
        handed = _handed_off(week, in_scope, hospital_ids)
        for item, qty in handed.groupby(["item", "unit"])["qty"].sum().items():
            rows.append({"kind": "partner", "name": "(livraisons des partenaires)", "item": item[0], "unit": item[1], "ordered": None, "received": int(qty)})  # fmt: skip
    for row in provided:
        rows.append({"kind": row.get("kind", "supplier"), **row})
    return _rows_frame(rows, ["kind", "name", "item", "unit", "ordered", "received"])


def _handed_off(frame: pd.DataFrame, in_scope: Any, hospital_ids: Any) -> pd.DataFrame:
    """What partners delivered (``handoff`` postings) to the scope's stock or hospitals."""
    handoff = frame[(frame["cause"] == "handoff") & (frame["unit"] == PIECES)]
    at_hospital = handoff["kind"] == "hospital"
    if hospital_ids is not None:
        at_hospital &= handoff["hospital_id"].isin(hospital_ids)
    return handoff[in_scope(handoff) | at_hospital]


def _batches(released: pd.DataFrame, labs: pd.DataFrame) -> pd.DataFrame:
    week = released[released["bucket"] == 1].merge(
        labs[["fablab_id", "fablab"]], on="fablab_id", how="left"
    )
    columns = ["batch", "fablab", "design", "quantity", "released_at", "state"]
    return week.sort_values(["released_at", "batch"])[columns].reset_index(drop=True)


def _rows_frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    for column in columns:
        if column not in frame:
            frame[column] = None
    return frame[columns]


def _key_figures(
    scope: Scope,
    week: pd.DataFrame,
    previous: pd.DataFrame,
    counts: pd.DataFrame,
    released: pd.DataFrame,
    hospitals: pd.DataFrame,
    materials: pd.DataFrame,
    per_lab: pd.DataFrame,
    trend: pd.DataFrame,
    in_scope: Any,
) -> pd.DataFrame:
    hospital_ids = set(hospitals["hospital_id"])

    def delivered(frame: pd.DataFrame) -> int:
        return _sum(_delivered(frame)[lambda f: f["hospital_id"].isin(hospital_ids)])

    def failure_rate(bucket: int) -> float:
        chosen = counts[counts["bucket"] == bucket]
        chosen = chosen[chosen["fablab_id"].isin(set(per_lab["fablab_id"]))]
        failed = int(chosen[chosen["reason"] == "print_scrap"]["prints"].sum())
        done = int(chosen[chosen["reason"] == "print_output"]["prints"].sum())
        return round(failed / (failed + done), 4) if failed + done else float("nan")

    ordered = int(hospitals["ordered"].sum())
    delivered_total = int(hospitals["delivered"].sum())
    backlog = int(hospitals["open"].sum())
    backlog_before = trend["backlog"].iloc[-2] if len(trend) > 1 else float("nan")

    def released_in(bucket: int) -> int:
        return int(released[released["bucket"] == bucket]["quantity"].sum())

    covered = materials.dropna(subset=["days_cover"])
    utilisation = float("nan")
    if "printing_hours" in per_lab and per_lab["printers"].notna().any():
        hours = float(per_lab["printing_hours"].fillna(0).sum())
        printers = float(pd.to_numeric(per_lab["printers"], errors="coerce").fillna(0).sum())
        available = printers * scope.week.hours
        utilisation = round(hours / available, 4) if available else float("nan")
    oldest = _oldest_open_days(hospitals, scope.end)
    rows = [
        ("printed", _sum(_printed(week, in_scope)), _sum(_printed(previous, in_scope))),
        ("assembled", _sum(_assembled(week, in_scope)), _sum(_assembled(previous, in_scope))),
        ("released", released_in(1), released_in(0)),
        (
            "shipped",
            _sum(_out_of_stock(week, "shipment", in_scope)),
            _sum(_out_of_stock(previous, "shipment", in_scope)),
        ),
        ("delivered", delivered(week), delivered(previous)),
        ("backlog", backlog, backlog_before),
        ("backlog_age_days", oldest, float("nan")),
        (
            "fill_rate",
            round(delivered_total / ordered, 4) if ordered else float("nan"),
            float("nan"),
        ),
        ("utilisation", utilisation, float("nan")),
        ("failure_rate", failure_rate(1), failure_rate(0)),
        ("scrap_g", _scrap(week, in_scope), _scrap(previous, in_scope)),
        (
            "days_cover_min",
            float(covered["days_cover"].min()) if len(covered) else float("nan"),
            float("nan"),
        ),
        (
            "handed_off",
            _sum(_handed_off(week, in_scope, _hospital_scope(scope))),
            _sum(_handed_off(previous, in_scope, _hospital_scope(scope))),
        ),
    ]
    frame = pd.DataFrame(rows, columns=["figure", "value", "previous"])
    frame["change"] = [
        _change(v, p) for v, p in zip(frame["value"], frame["previous"], strict=True)
    ]
    return frame


def _oldest_open_days(hospitals: pd.DataFrame, end: datetime) -> float:
    """Age in days, at the week's end, of the oldest order still open (from the orders' provider)."""
    stamps = [s for s in hospitals["oldest_open"] if s is not None and not pd.isna(s)]
    if not stamps:
        return float("nan")
    oldest = min(as_utc(s) if isinstance(s, datetime) else paris_midnight(s) for s in stamps)
    return round((end - oldest).total_seconds() / 86400, 1)


def _change(value: Any, previous: Any) -> float:
    try:
        v, p = float(value), float(previous)
    except (TypeError, ValueError):
        return float("nan")
    if math.isnan(v) or math.isnan(p):
        return float("nan")
    return v - p
