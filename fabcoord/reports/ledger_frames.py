"""The ledger read for a report: a few aggregate queries, each answered as a pandas DataFrame.

Every query ranges over the time of the moves (``stock_move.posted_at``, a move carries its
posting's time and reason) and groups in the database, so a report reads a few thousand grouped
rows whatever the size of the ledger. The period reads are answered from one index
(``ix_stock_move_period``: time, location, item, reason, quantity, posting) without visiting the
table. A reversal counts under the
reason of the posting it cancels (its legs carry the opposite signs), so a reversed print is no
longer counted as printed.

Buckets: the seven weeks before the report's week are one bucket each (0–6) and the report's week
is cut into its seven Paris days (7–13).
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlalchemy import Executable, String, and_, case, cast, func, select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from fabcoord.batches.models import Batch, Inspection
from fabcoord.demand import DemandLine
from fabcoord.ledger.models import Item, Location, MoveReason, Posting, StockBalance, StockMove
from fabcoord.records import Fablab, Hospital, Region
from fabcoord.reports.providers import Scope

TREND_WEEKS = 8
DAY_BUCKET = TREND_WEEKS - 1  # the first day of the report's week


def bucket_bounds(scope: Scope) -> list[datetime]:
    """The 15 boundaries: the starts of the seven earlier weeks, then the report week's midnights."""
    return [week.start for week in scope.trend_weeks[:-1]] + scope.week.day_bounds()


def window_moves(session: Session, scope: Scope) -> pd.DataFrame:
    """Net quantity per bucket, location, item and cause over the eight weeks of the trend.

    Two queries: every leg under its own reason, read from the move itself (no join: a move
    carries its posting's reason and time), then the few reversal legs again, counted under the
    reason of the posting they cancel instead of ``reversal``."""
    bounds = bucket_bounds(scope)
    at = col(StockMove.posted_at)
    bucket = case(*((at < bounds[i + 1], i) for i in range(len(bounds) - 1)), else_=-1)
    columns = ["bucket", "location_id", "item_id", "cause", "qty"]
    legs: Executable = (
        select(
            bucket.label("bucket"),
            col(StockMove.location_id),
            col(StockMove.item_id),
            cast(col(StockMove.reason), String).label("cause"),
            func.sum(StockMove.qty).label("qty"),
        )
        .where(at >= bounds[0], at < bounds[-1])
        .group_by(bucket, col(StockMove.location_id), col(StockMove.item_id), col(StockMove.reason))
    )
    original = aliased(Posting)
    # every reversal through the unique index on reverses_id (few), then only those in the window
    reversal_ids = select(col(Posting.id)).where(col(Posting.reverses_id) > 0)
    reversals: Executable = (
        select(
            bucket.label("bucket"),
            col(StockMove.location_id),
            col(StockMove.item_id),
            cast(col(original.reason), String).label("cause"),
            func.sum(StockMove.qty).label("qty"),
        )
        .join(Posting, col(Posting.id) == StockMove.posting_id)
        .join(original, col(original.id) == Posting.reverses_id)
        .where(col(StockMove.posting_id).in_(reversal_ids), at >= bounds[0], at < bounds[-1])
        .group_by(bucket, col(StockMove.location_id), col(StockMove.item_id), col(original.reason))
    )
    moves = _frame(session, legs, columns)
    moves = moves[moves["cause"] != MoveReason.REVERSAL.value]
    undone = _frame(session, reversals, columns)
    if undone.empty:
        return moves.reset_index(drop=True)
    joined = pd.concat([moves, undone], ignore_index=True)
    return joined.groupby(columns[:-1], as_index=False)["qty"].sum()


def moves_since(session: Session, since: datetime) -> pd.DataFrame:
    """Net quantity per location and item of every posting from ``since`` on (to roll back the
    cached balances to a past moment)."""
    query: Executable = (
        select(
            col(StockMove.location_id).label("location_id"),
            col(StockMove.item_id).label("item_id"),
            func.sum(StockMove.qty).label("qty"),
        )
        .where(col(StockMove.posted_at) >= since)
        .group_by(col(StockMove.location_id), col(StockMove.item_id))
    )
    return _frame(session, query, ["location_id", "item_id", "qty"])


def balances_now(session: Session) -> pd.DataFrame:
    """The cached balance of every real location, per item (lots summed)."""
    query: Executable = select(
        col(StockBalance.location_id).label("location_id"),
        col(StockBalance.item_id).label("item_id"),
        func.sum(StockBalance.qty).label("qty"),
    ).group_by(col(StockBalance.location_id), col(StockBalance.item_id))
    return _frame(session, query, ["location_id", "item_id", "qty"])


def print_counts(session: Session, scope: Scope) -> pd.DataFrame:
    """Prints that ended (``print_output``) and failed (``print_scrap``) per fablab, for the report
    week (``bucket`` 1) and the week before (0). Reversed postings do not count."""
    previous = scope.trend_weeks[-2]
    at = col(StockMove.posted_at)
    bucket = case((at < scope.start, 0), else_=1)
    reversed_ids = select(col(Posting.reverses_id)).where(col(Posting.reverses_id) > 0)
    query: Executable = (
        select(
            bucket.label("bucket"),
            col(Location.fablab_id).label("fablab_id"),
            cast(col(StockMove.reason), String).label("reason"),
            func.count(func.distinct(StockMove.posting_id)).label("prints"),
        )
        .join(Location, col(Location.id) == StockMove.location_id)
        .where(
            at >= previous.start,
            at < scope.end,
            col(StockMove.reason).in_([MoveReason.PRINT_OUTPUT, MoveReason.PRINT_SCRAP]),
            col(Location.fablab_id).is_not(None),
            col(StockMove.posting_id).not_in(reversed_ids),
        )
        .group_by(bucket, col(Location.fablab_id), col(StockMove.reason))
    )
    frame = _frame(session, query, ["bucket", "fablab_id", "reason", "prints"])
    frame["reason"] = frame["reason"].astype(str)
    return frame


def released_batches(session: Session, scope: Scope) -> pd.DataFrame:
    """Batches released (a passed inspection) in the report week (``bucket`` 1) and the week
    before (0), at the scope's fablabs: each batch once per week, at its first release that week.
    """
    previous = scope.trend_weeks[-2]
    at = col(Inspection.inspected_at)
    bucket = case((at < scope.start, 0), else_=1)
    query = (
        select(
            bucket.label("bucket"),
            col(Batch.number),
            col(Batch.fablab_id),
            col(Batch.design),
            col(Batch.quantity),
            cast(col(Batch.state), String),
            func.min(at),
        )
        .join(Batch, col(Batch.id) == Inspection.batch_id)
        .where(col(Inspection.passed).is_(True), at >= previous.start, at < scope.end)
        .group_by(bucket, col(Batch.number), col(Batch.fablab_id), col(Batch.design))
        .group_by(col(Batch.quantity), col(Batch.state))
    )
    if scope.fablab_ids is not None:
        query = query.where(col(Batch.fablab_id).in_(sorted(scope.fablab_ids)))
    columns = ["bucket", "batch", "fablab_id", "design", "quantity", "state", "released_at"]
    return _frame(session, query, columns)


def locations(session: Session) -> pd.DataFrame:
    query: Executable = select(
        col(Location.id).label("location_id"),
        col(Location.code),
        col(Location.kind),
        col(Location.fablab_id),
        col(Location.hospital_id),
    )
    frame = _frame(session, query, ["location_id", "code", "kind", "fablab_id", "hospital_id"])
    frame["kind"] = frame["kind"].astype(str)
    return frame


def items(session: Session) -> pd.DataFrame:
    query: Executable = select(
        col(Item.id).label("item_id"), col(Item.code), col(Item.kind), col(Item.unit)
    )
    frame = _frame(session, query, ["item_id", "item", "item_kind", "unit"])
    for column in ("item_kind", "unit"):
        frame[column] = frame[column].astype(str)
    return frame


def fablabs(session: Session) -> pd.DataFrame:
    query: Executable = select(
        col(Fablab.id), col(Fablab.slug), col(Fablab.name), col(Region.name)
    ).join(Region, and_(col(Region.id) == Fablab.region_id))
    return _frame(session, query, ["fablab_id", "slug", "fablab", "region"])


def hospitals(session: Session) -> pd.DataFrame:
    query: Executable = select(col(Hospital.id), col(Hospital.name), col(Region.name)).join(
        Region, col(Region.id) == Hospital.region_id
    )
    return _frame(session, query, ["hospital_id", "hospital", "region"])


def demand(session: Session) -> pd.DataFrame:
    query: Executable = select(
        col(DemandLine.hospital_id),
        col(DemandLine.item_code),
        col(DemandLine.quantity),
        col(DemandLine.needed_by),
        col(DemandLine.state),
        col(DemandLine.status),
    )
    frame = _frame(
        session, query, ["hospital_id", "item", "quantity", "needed_by", "state", "status"]
    )
    frame["state"] = frame["state"].astype(str)
    return frame


def _frame(session: Session, query: Executable, columns: list[str]) -> pd.DataFrame:
    """The rows of ``query`` (run on the session's connection: no ORM processing of the rows)."""
    rows = session.connection().execute(query).all()
    frame = pd.DataFrame.from_records([tuple(row) for row in rows], columns=columns)
    for column in ("qty", "prints", "quantity"):
        if column in frame:
            frame[column] = frame[column].fillna(0).astype("int64")
    return frame
