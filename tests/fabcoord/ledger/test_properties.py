"""Property-based tests of the ledger on a real database (SQLite and PostgreSQL).

For any sequence of posts, reversals and replays: balances equal the sum of the moves, the cache
equals the moves, a reversal restores the balances it changed, an idempotency key posts at most
once, and no balance of an item that forbids it goes below zero at a real location. Every refusal
for stock is checked against a model of the balances: a move or reversal is refused for stock if
and only if it would take such a balance below zero.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from fabcoord.db import unit_of_work
from fabcoord.errors import AlreadyReversed, InsufficientStock
from fabcoord.ledger import balances, catalogue
from fabcoord.ledger.models import ItemKind, LocationKind, Unit
from fabcoord.ledger.posting import PostingRequest, post, reverse
from tests.factories import move_request

ITEMS = ("petg", "loaner")  # petg forbids negative stock, loaner allows it
SITES = 3  # real stock locations per example, plus the virtual supplier


@dataclass(frozen=True)
class Post:
    item: int
    source: int  # -1 = supplier
    destination: int
    qty: int
    key: int | None


@dataclass(frozen=True)
class Reverse:
    which: int


@dataclass(frozen=True)
class Replay:
    which: int


operations = st.lists(
    st.one_of(
        st.builds(
            Post,
            item=st.integers(0, len(ITEMS) - 1),
            source=st.integers(-1, SITES - 1),
            destination=st.integers(0, SITES - 1),
            qty=st.integers(1, 50),
            key=st.none() | st.integers(0, 3),
        ),
        st.builds(Reverse, which=st.integers(0, 30)),
        st.builds(Replay, which=st.integers(0, 30)),
    ),
    min_size=1,
    max_size=25,
)


def _ensure_loaner(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        if not [i for i in catalogue.list_items(session=session) if i.code == "loaner"]:
            catalogue.add_item(
                session=session,
                code="loaner",
                name="Loaner",
                kind=ItemKind.PART,
                unit=Unit.PIECE,
                allow_negative=True,
            )


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=operations)
def test_ledger_invariants_hold_for_any_sequence(engine: Engine, ops: list[object]) -> None:
    _ensure_loaner(engine)
    run = uuid.uuid4().hex[:8]
    sites = [f"site-{run}-{n}" for n in range(SITES)]
    with unit_of_work(engine) as session:
        for code in sites:
            catalogue.add_location(session=session, code=code, name=code, kind=LocationKind.STOCK)
    expected: dict[tuple[str, str], int] = defaultdict(int)
    accepted: list[tuple[int, PostingRequest]] = []  # (posting id, request)
    reversed_ids: set[int] = set()
    for op in ops:
        if isinstance(op, Post):
            if op.source == op.destination:
                continue
            request = move_request(
                item=ITEMS[op.item],
                qty=op.qty,
                source=catalogue.SUPPLIERS if op.source < 0 else sites[op.source],
                destination=sites[op.destination],
                key=None if op.key is None else f"{run}-{op.key}",
            )
            _apply_post(engine, request, expected, accepted, sites)
        elif isinstance(op, Replay) and accepted:
            posting_id, request = accepted[op.which % len(accepted)]
            if request.idempotency_key is not None:
                before = _balances(engine)
                with unit_of_work(engine) as session:
                    assert post(session=session, request=request).id == posting_id
                assert _balances(engine) == before
        elif isinstance(op, Reverse) and accepted:
            posting_id, request = accepted[op.which % len(accepted)]
            _apply_reverse(engine, posting_id, request, expected, reversed_ids, sites)
        _check(engine, expected, sites)


def _goes_below_zero(
    expected: dict[tuple[str, str], int],
    legs: list[tuple[str, str, int]],
    sites: list[str],
) -> bool:
    """Whether moving ``legs`` (item, location, signed qty) would take a balance that must not be
    negative (petg, at a real location) below zero, by the model's balances."""
    after: dict[tuple[str, str], int] = defaultdict(int)
    for item, location, qty in legs:
        after[(item, location)] += qty
    return any(
        item == "petg" and location in sites and expected[(item, location)] + delta < 0
        for (item, location), delta in after.items()
    )


def _apply_post(
    engine: Engine,
    request: PostingRequest,
    expected: dict[tuple[str, str], int],
    accepted: list[tuple[int, PostingRequest]],
    sites: list[str],
) -> None:
    known = {r.idempotency_key: pid for pid, r in accepted if r.idempotency_key}
    short = _goes_below_zero(expected, [(g.item, g.location, g.qty) for g in request.legs], sites)
    try:
        with unit_of_work(engine) as session:
            posting = post(session=session, request=request)
    except InsufficientStock:
        # refused for stock: only a new move, and only one that would go below zero
        assert request.idempotency_key not in known and short, request
        return
    except Exception as error:  # same key, other content: must be refused, and was
        assert request.idempotency_key in known, error
        return
    if request.idempotency_key in known:
        assert posting.id == known[request.idempotency_key]
        return
    assert not short, request  # accepted: it must not have taken stock it did not have
    accepted.append((posting.id or 0, request))
    for leg in request.legs:
        expected[(leg.item, leg.location)] += leg.qty


def _apply_reverse(
    engine: Engine,
    posting_id: int,
    request: PostingRequest,
    expected: dict[tuple[str, str], int],
    reversed_ids: set[int],
    sites: list[str],
) -> None:
    before = _balances(engine)
    undo = [(g.item, g.location, -g.qty) for g in request.legs]
    short = _goes_below_zero(expected, undo, sites)
    try:
        with unit_of_work(engine) as session:
            reverse(session=session, posting_id=posting_id, reason="property", actor="hypothesis")
    except AlreadyReversed:
        assert posting_id in reversed_ids
        return
    except InsufficientStock:  # only a reversal that would take stock below zero is refused
        assert posting_id not in reversed_ids and short, request
        return
    assert posting_id not in reversed_ids
    assert not short, request
    reversed_ids.add(posting_id)
    for leg in request.legs:
        expected[(leg.item, leg.location)] -= leg.qty
    after = _balances(engine)
    for leg in request.legs:  # the reversal undoes exactly the original's effect
        key = (leg.item, leg.location)
        assert after.get(key, 0) == before.get(key, 0) - leg.qty


def _balances(engine: Engine) -> dict[tuple[str, str], int]:
    with unit_of_work(engine, read_only=True) as session:
        totals: dict[tuple[str, str], int] = defaultdict(int)
        for row in balances.balances(session=session, include_zero=True):
            totals[(row.item, row.location)] += row.qty
        return dict(totals)


def _check(engine: Engine, expected: dict[tuple[str, str], int], sites: list[str]) -> None:
    actual = _balances(engine)
    for (item, location), qty in expected.items():
        if location in sites:
            assert actual.get((item, location), 0) == qty, (item, location)
            if item == "petg":
                assert actual.get((item, location), 0) >= 0
    with unit_of_work(engine, read_only=True) as session:
        assert balances.cache_discrepancies(session=session) == {}
