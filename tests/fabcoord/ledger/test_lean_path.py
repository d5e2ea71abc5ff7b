"""The lean posting path: batches, taken idempotency keys, savepoints only when needed, the
catalogue cache (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session

from fabcoord.config import Settings
from fabcoord.db import make_engine, unit_of_work
from fabcoord.errors import IdempotencyConflict, InsufficientStock, UnknownLocation
from fabcoord.ledger import balances, catalogue, lookups
from fabcoord.ledger.atomic import owns_transaction
from fabcoord.ledger.models import Location, LocationKind
from fabcoord.ledger.posting import PostingRequest, post, post_many
from tests.factories import add_stock_location, ledger_snapshot, move_request, receive, unique


def supply(shelf: str, qty: int, key: str | None = None) -> PostingRequest:
    return move_request(
        item="petg", qty=qty, source=catalogue.SUPPLIERS, destination=shelf, key=key
    )


def test_a_batch_answers_taken_keys_with_the_earlier_postings_and_posts_the_rest(
    engine: Engine,
) -> None:
    shelf = add_stock_location(engine)
    earlier = receive(engine, item="petg", qty=10, to=shelf)
    k2, k3 = supply(shelf, 5, key="K-2"), supply(shelf, 3, key="K-3")
    with unit_of_work(engine) as session:
        first = post(session=session, request=k2)
    with unit_of_work(engine) as session:
        posted = post_many(
            session=session,
            requests=[
                supply(shelf, 7),
                k2,  # same content as before: the earlier posting
                k3,
                k3,  # twice in the batch: posted once
            ],
        )
    assert posted[1].id == first.id
    assert posted[2].id == posted[3].id
    assert len({posted[0].id, posted[1].id, posted[2].id}) == 3
    assert posted[0].id > first.id and posted[2].id > first.id
    assert earlier.id < first.id
    assert _quantity(engine, shelf) == 10 + 5 + 7 + 3
    _assert_cache_matches_moves(engine)


@pytest.mark.parametrize("caller_has_work", [False, True])
def test_a_batch_with_one_conflicting_key_writes_nothing(
    engine: Engine, caller_has_work: bool
) -> None:
    shelf = add_stock_location(engine)
    receive(engine, item="petg", qty=10, to=shelf, key="K-1")
    before = ledger_snapshot(engine)
    code = unique("kept")
    with unit_of_work(engine) as session:
        if caller_has_work:
            catalogue.add_location(session=session, code=code, name=code, kind=LocationKind.STOCK)
        with pytest.raises(IdempotencyConflict):
            post_many(
                session=session,
                requests=[supply(shelf, 4), supply(shelf, 11, key="K-1"), supply(shelf, 6)],
            )
        post(session=session, request=supply(shelf, 1))  # the transaction is still usable
    after = ledger_snapshot(engine)
    assert len(after["posting"]) == len(before["posting"]) + 1
    assert _quantity(engine, shelf) == 11
    with unit_of_work(engine, read_only=True) as session:
        kept = [loc.code for loc in catalogue.list_locations(session=session)]
    assert (code in kept) is caller_has_work  # the caller's own work survived the refusal


def test_a_refused_posting_after_other_work_keeps_that_work(engine: Engine) -> None:
    shelf, other = add_stock_location(engine), add_stock_location(engine)
    receive(engine, item="visor-frame", qty=5, to=shelf)
    code = unique("ward")
    with unit_of_work(engine) as session:
        catalogue.add_location(session=session, code=code, name=code, kind=LocationKind.STOCK)
        assert not owns_transaction(session)
        with pytest.raises(InsufficientStock):
            post(
                session=session,
                request=move_request(item="visor-frame", qty=9, source=shelf, destination=other),
            )
        post(
            session=session,
            request=move_request(item="visor-frame", qty=2, source=shelf, destination=code),
        )
    assert _quantity(engine, code, item="visor-frame") == 2
    _assert_cache_matches_moves(engine)


def test_a_posting_owns_its_transaction_only_when_nothing_came_before(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        assert owns_transaction(session)
        session.execute(text("SELECT 1"))
        assert not owns_transaction(session)
    with Session(engine) as session, session.begin():
        session.add(Location(code=unique("x"), name="x", kind=LocationKind.STOCK))
        assert not owns_transaction(session)
        session.rollback()


def test_a_location_rolled_back_is_not_remembered(engine: Engine) -> None:
    shelf = add_stock_location(engine)
    receive(engine, item="petg", qty=50, to=shelf)
    gone = unique("gone")
    with pytest.raises(RuntimeError), unit_of_work(engine) as session:
        catalogue.add_location(session=session, code=gone, name=gone, kind=LocationKind.STOCK)
        post(
            session=session,
            request=move_request(item="petg", qty=5, source=shelf, destination=gone),
        )
        raise RuntimeError("the caller gives up")
    add_stock_location(engine)  # on SQLite this one takes the id the rolled-back location had
    with pytest.raises(UnknownLocation), unit_of_work(engine) as session:
        post(
            session=session,
            request=move_request(item="petg", qty=5, source=shelf, destination=gone),
        )
    assert _quantity(engine, shelf) == 50


def test_a_location_created_elsewhere_is_found_and_then_served_from_the_cache(
    engine: Engine, database_url: str
) -> None:
    shelf = add_stock_location(engine)
    receive(engine, item="petg", qty=50, to=shelf)  # the cache now knows petg, shelf, supplier
    other_process = make_engine(Settings(database_url=database_url))
    try:
        late = add_stock_location(other_process)
    finally:
        other_process.dispose()
    with unit_of_work(engine) as session:
        post(
            session=session,
            request=move_request(item="petg", qty=5, source=shelf, destination=late),
        )
    lookups.forget()
    with unit_of_work(engine) as session:
        post(
            session=session,
            request=move_request(item="petg", qty=5, source=late, destination=shelf),
        )
    assert _quantity(engine, late) == 0
    assert _quantity(engine, shelf) == 50


def test_a_batch_larger_than_one_statement_posts_every_move_in_order(engine: Engine) -> None:
    shelves = [add_stock_location(engine) for _ in range(3)]
    requests = [supply(shelves[n % 3], n + 1) for n in range(2_000)]
    with unit_of_work(engine) as session:
        posted = post_many(session=session, requests=requests)
    ids = [p.id for p in posted]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    for n, shelf in enumerate(shelves):
        assert _quantity(engine, shelf) == sum(k + 1 for k in range(n, 2_000, 3))
    with engine.connect() as connection:
        legs = connection.execute(text("SELECT posting_id, qty FROM stock_move ORDER BY id")).all()
    assert [row[1] for row in legs] == [q for k in range(2_000) for q in (-(k + 1), k + 1)]
    assert [row[0] for row in legs[::2]] == ids
    _assert_cache_matches_moves(engine)


def test_a_batch_larger_than_one_statement_is_refused_whole(engine: Engine) -> None:
    shelf, other = add_stock_location(engine), add_stock_location(engine)
    receive(engine, item="petg", qty=1_000, to=shelf)
    before = ledger_snapshot(engine)
    requests = [supply(other, 1) for _ in range(1_500)]
    requests.append(move_request(item="petg", qty=1_001, source=shelf, destination=other))
    with pytest.raises(InsufficientStock), unit_of_work(engine) as session:
        post_many(session=session, requests=requests)
    assert ledger_snapshot(engine) == before


def _quantity(engine: Engine, location: str, item: str = "petg") -> int:
    with unit_of_work(engine, read_only=True) as session:
        return balances.quantity(
            session=session,
            item_id=catalogue.get_item(session=session, code=item).id or 0,
            location_id=catalogue.get_location(session=session, code=location).id or 0,
        )


def _assert_cache_matches_moves(engine: Engine) -> None:
    with unit_of_work(engine, read_only=True) as session:
        assert balances.cache_discrepancies(session=session) == {}


def test_cached_quantity_reads_the_same_balance_as_quantity(engine: Engine) -> None:
    shelf = add_stock_location(engine)
    receive(engine, item="petg", qty=30, to=shelf, lot="A")
    receive(engine, item="petg", qty=12, to=shelf, lot="B")
    with unit_of_work(engine, read_only=True) as session:
        location = catalogue.get_location(session=session, code=shelf).id or 0
        assert balances.cached_quantity(session=session, item="petg", location_id=location) == 42
        assert (
            balances.cached_quantity(session=session, item="petg", location_id=location, lot="B")
            == 12
        )
        assert balances.cached_quantity(session=session, item="pla", location_id=location) == 0


def test_after_a_refused_first_posting_the_transaction_is_still_one_transaction(
    engine: Engine,
) -> None:
    shelf, other = add_stock_location(engine), add_stock_location(engine)
    receive(engine, item="visor-frame", qty=5, to=shelf)
    before = ledger_snapshot(engine)
    with pytest.raises(RuntimeError), unit_of_work(engine) as session:
        assert owns_transaction(session)
        with pytest.raises(InsufficientStock):
            post(
                session=session,
                request=move_request(item="visor-frame", qty=9, source=shelf, destination=other),
            )
        post(
            session=session,
            request=move_request(item="visor-frame", qty=2, source=shelf, destination=other),
        )
        raise RuntimeError("the caller gives up: the second posting must go too")
    assert ledger_snapshot(engine) == before


def test_a_batch_may_not_take_stock_that_only_a_later_posting_brings_in(engine: Engine) -> None:
    shelf, other = add_stock_location(engine), add_stock_location(engine)
    before = ledger_snapshot(engine)
    take = move_request(item="petg", qty=5, source=shelf, destination=other)
    with pytest.raises(InsufficientStock) as refused, unit_of_work(engine) as session:
        post_many(session=session, requests=[take, supply(shelf, 5)])
    assert (refused.value.available, refused.value.requested) == (0, 5)
    assert ledger_snapshot(engine) == before
    with unit_of_work(engine) as session:  # in the other order each posting finds its stock
        post_many(session=session, requests=[supply(shelf, 5), take])
    assert (_quantity(engine, shelf), _quantity(engine, other)) == (0, 5)
    _assert_cache_matches_moves(engine)


def test_a_batch_that_takes_stock_and_brings_it_back_is_checked_at_each_posting(
    engine: Engine,
) -> None:
    shelf, other = add_stock_location(engine), add_stock_location(engine)
    receive(engine, item="petg", qty=3, to=shelf)
    before = ledger_snapshot(engine)
    with pytest.raises(InsufficientStock) as refused, unit_of_work(engine) as session:
        post_many(
            session=session,
            requests=[
                move_request(item="petg", qty=5, source=shelf, destination=other),
                move_request(item="petg", qty=5, source=other, destination=shelf),
            ],
        )
    assert (refused.value.location, refused.value.available, refused.value.requested) == (
        shelf,
        3,
        5,
    )
    assert ledger_snapshot(engine) == before


def test_a_refused_batch_names_the_first_posting_that_runs_short(engine: Engine) -> None:
    shelf, other = add_stock_location(engine), add_stock_location(engine)
    receive(engine, item="petg", qty=10, to=shelf)
    take = [move_request(item="petg", qty=4, source=shelf, destination=other) for _ in range(3)]
    with pytest.raises(InsufficientStock) as refused, unit_of_work(engine) as session:
        post_many(session=session, requests=take)
    assert (refused.value.available, refused.value.requested) == (2, 4)
    assert "2 g available, 4 g requested" in str(refused.value)
    assert _quantity(engine, shelf) == 10


@pytest.mark.parametrize("batch", [1, 3])
def test_postings_between_virtual_counterparts_write_their_moves_and_no_balance(
    engine: Engine, batch: int
) -> None:
    before = ledger_snapshot(engine)
    requests = [
        move_request(
            item="petg", qty=n + 1, source=catalogue.SUPPLIERS, destination=catalogue.PRODUCTION
        )
        for n in range(batch)
    ]
    with unit_of_work(engine) as session:
        posted = post_many(session=session, requests=requests)
    after = ledger_snapshot(engine)
    assert len(after["posting"]) == len(before["posting"]) + batch == len({p.id for p in posted})
    assert len(after["stock_move"]) == len(before["stock_move"]) + 2 * batch
    assert after["stock_balance"] == before["stock_balance"]
    _assert_cache_matches_moves(engine)
