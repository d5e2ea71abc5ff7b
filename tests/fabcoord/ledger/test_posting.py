"""Posting, reversing and the ledger's rules, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from fabcoord.db import unit_of_work
from fabcoord.errors import (
    AlreadyReversed,
    IdempotencyConflict,
    InsufficientStock,
    InvalidInput,
    InvalidQuantity,
    ReversalOfReversal,
    UnbalancedPosting,
    UnknownItem,
    UnknownLocation,
    UnknownMove,
)
from fabcoord.ledger import balances, catalogue
from fabcoord.ledger.models import ItemKind, MoveReason, Unit
from fabcoord.ledger.posting import Leg, PostingRequest, post, reverse, utc_now
from tests.factories import add_stock_location, database_snapshot, legs, move_request, receive


def qty_at(engine: Engine, item: str, location: str, **kwargs: object) -> int:
    with unit_of_work(engine, read_only=True) as session:
        return balances.quantity(
            session=session,
            item_id=catalogue.get_item(session=session, code=item).id or 0,
            location_id=catalogue.get_location(session=session, code=location).id or 0,
            **kwargs,  # type: ignore[arg-type]
        )


def test_receipt_moves_stock_from_supplier_to_location(engine: Engine) -> None:
    shelf = add_stock_location(engine)
    receive(engine, item="petg", qty=1000, to=shelf, lot="L1")
    assert qty_at(engine, "petg", shelf) == 1000
    assert qty_at(engine, "petg", shelf, lot="L1") == 1000
    assert qty_at(engine, "petg", catalogue.SUPPLIERS) == -1000


def test_every_move_names_its_reason_and_document(engine: Engine) -> None:
    shelf = add_stock_location(engine)
    posting = receive(engine, item="petg", qty=10, to=shelf)
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT reason, doc_type, doc_id FROM stock_move WHERE posting_id = :p"),
            {"p": posting.id},
        ).all()
    assert len(rows) == 2
    assert {tuple(r) for r in rows} == {("receipt", "receipt", posting.doc_id)}


def test_moving_more_than_available_is_refused_and_changes_nothing(engine: Engine) -> None:
    shelf, other = add_stock_location(engine), add_stock_location(engine)
    receive(engine, item="visor-frame", qty=5, to=shelf)
    before = database_snapshot(engine)
    with (
        pytest.raises(InsufficientStock, match="5 pcs available, 6 pcs requested"),
        unit_of_work(engine) as session,
    ):
        post(
            session=session,
            request=move_request(item="visor-frame", qty=6, source=shelf, destination=other),
        )
    assert database_snapshot(engine) == before


def test_failed_posting_leaves_the_callers_transaction_usable(engine: Engine) -> None:
    shelf, other = add_stock_location(engine), add_stock_location(engine)
    receive(engine, item="visor-frame", qty=5, to=shelf)
    with unit_of_work(engine) as session:
        with pytest.raises(InsufficientStock):
            post(
                session=session,
                request=move_request(item="visor-frame", qty=9, source=shelf, destination=other),
            )
        post(
            session=session,
            request=move_request(item="visor-frame", qty=2, source=shelf, destination=other),
        )
    assert qty_at(engine, "visor-frame", shelf) == 3
    assert qty_at(engine, "visor-frame", other) == 2


def test_item_allowing_negative_may_go_below_zero(engine: Engine) -> None:
    shelf, other = add_stock_location(engine), add_stock_location(engine)
    with unit_of_work(engine) as session:
        catalogue.add_item(
            session=session,
            code="loaner",
            name="Loaner",
            kind=ItemKind.PART,
            unit=Unit.PIECE,
            allow_negative=True,
        )
    with unit_of_work(engine) as session:
        post(
            session=session,
            request=move_request(item="loaner", qty=3, source=shelf, destination=other),
        )
    assert qty_at(engine, "loaner", shelf) == -3


@pytest.mark.parametrize(
    ("request_legs", "error"),
    [
        (legs(("petg", "supplier", -5), ("petg", "SHELF", 4)), UnbalancedPosting),
        (legs(("petg", "SHELF", 5)), UnbalancedPosting),
        (legs(("petg", "supplier", 0), ("petg", "SHELF", 0)), InvalidQuantity),
        (legs(("nope", "supplier", -5), ("nope", "SHELF", 5)), UnknownItem),
        (legs(("petg", "supplier", -5), ("petg", "nowhere", 5)), UnknownLocation),
        ((Leg("petg", "supplier", -1.5), Leg("petg", "SHELF", 1.5)), InvalidQuantity),  # type: ignore[arg-type]
    ],
)
def test_bad_postings_are_refused_without_a_trace(
    engine: Engine, request_legs: tuple[Leg, ...], error: type[Exception]
) -> None:
    shelf = add_stock_location(engine)
    request_legs = tuple(
        Leg(leg.item, shelf if leg.location == "SHELF" else leg.location, leg.qty, leg.lot)
        for leg in request_legs
    )
    before = database_snapshot(engine)
    with pytest.raises(error), unit_of_work(engine) as session:
        post(
            session=session,
            request=PostingRequest(
                reason=MoveReason.RECEIPT,
                doc_type="receipt",
                doc_id="BL-1",
                legs=request_legs,
                actor="tester",
            ),
        )
    assert database_snapshot(engine) == before


def test_a_posting_must_name_its_document(engine: Engine) -> None:
    shelf = add_stock_location(engine)
    with pytest.raises(InvalidInput, match="document"), unit_of_work(engine) as session:
        post(
            session=session,
            request=PostingRequest(
                reason=MoveReason.RECEIPT,
                doc_type=" ",
                doc_id="",
                actor="tester",
                legs=legs(("petg", "supplier", -5), ("petg", shelf, 5)),
            ),
        )


def test_reversal_restores_balances_and_links_to_the_original(engine: Engine) -> None:
    shelf = add_stock_location(engine)
    receive(engine, item="petg", qty=100, to=shelf)
    original = receive(engine, item="petg", qty=40, to=shelf, lot="L2")
    with unit_of_work(engine) as session:
        reversal = reverse(
            session=session, posting_id=original.id or 0, reason="typo", actor="tester"
        )
    assert reversal.reverses_id == original.id
    assert reversal.reason is MoveReason.REVERSAL
    assert (reversal.doc_type, reversal.doc_id) == (original.doc_type, original.doc_id)
    assert qty_at(engine, "petg", shelf) == 100
    with engine.connect() as connection:
        count = connection.execute(text("SELECT COUNT(*) FROM stock_move")).scalar_one()
    assert count == 6  # nothing deleted: original and reversal both stay


def test_reversing_twice_or_a_reversal_or_nothing_is_refused(engine: Engine) -> None:
    shelf = add_stock_location(engine)
    original = receive(engine, item="petg", qty=40, to=shelf)
    with unit_of_work(engine) as session:
        reversal = reverse(session=session, posting_id=original.id or 0, reason="x", actor="t")
    before = database_snapshot(engine)
    cases: list[tuple[int, type[Exception]]] = [
        (original.id or 0, AlreadyReversed),
        (reversal.id or 0, ReversalOfReversal),
        (999_999, UnknownMove),
    ]
    for posting_id, error in cases:
        with pytest.raises(error), unit_of_work(engine) as session:
            reverse(session=session, posting_id=posting_id, reason="again", actor="t")
    with pytest.raises(InvalidInput), unit_of_work(engine) as session:
        reverse(session=session, posting_id=original.id or 0, reason="  ", actor="t")
    assert database_snapshot(engine) == before


def test_reversal_of_a_receipt_already_used_is_refused(engine: Engine) -> None:
    shelf, other = add_stock_location(engine), add_stock_location(engine)
    original = receive(engine, item="petg", qty=40, to=shelf)
    with unit_of_work(engine) as session:
        post(
            session=session,
            request=move_request(item="petg", qty=30, source=shelf, destination=other),
        )
    with pytest.raises(InsufficientStock), unit_of_work(engine) as session:
        reverse(session=session, posting_id=original.id or 0, reason="late", actor="t")


def test_idempotency_key_posts_once_and_refuses_other_content(engine: Engine) -> None:
    shelf = add_stock_location(engine)
    request = move_request(
        item="petg", qty=10, source=catalogue.SUPPLIERS, destination=shelf, key="K-1"
    )
    with unit_of_work(engine) as session:
        first = post(session=session, request=request)
    with unit_of_work(engine) as session:
        again = post(session=session, request=request)
    assert again.id == first.id
    assert qty_at(engine, "petg", shelf) == 10
    before = database_snapshot(engine)
    other = move_request(
        item="petg", qty=11, source=catalogue.SUPPLIERS, destination=shelf, key="K-1"
    )
    with pytest.raises(IdempotencyConflict), unit_of_work(engine) as session:
        post(session=session, request=other)
    assert database_snapshot(engine) == before


def test_balance_as_of_a_past_time_sums_only_earlier_moves(engine: Engine) -> None:
    shelf = add_stock_location(engine)
    receive(engine, item="petg", qty=100, to=shelf)
    middle = utc_now()
    receive(engine, item="petg", qty=50, to=shelf)
    assert qty_at(engine, "petg", shelf, as_of=middle) == 100
    assert qty_at(engine, "petg", shelf, as_of=middle - timedelta(days=1)) == 0
    assert qty_at(engine, "petg", shelf) == 150


def test_moves_and_postings_cannot_be_updated_or_deleted(engine: Engine) -> None:
    shelf = add_stock_location(engine)
    receive(engine, item="petg", qty=100, to=shelf)
    for statement in (
        "UPDATE stock_move SET qty = 1",
        "DELETE FROM stock_move",
        "UPDATE posting SET note = 'x'",
        "DELETE FROM posting",
    ):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(text(statement))


def test_balance_cache_rebuilt_from_moves_equals_the_running_cache(engine: Engine) -> None:
    shelf, other = add_stock_location(engine), add_stock_location(engine)
    receive(engine, item="petg", qty=100, to=shelf, lot="A")
    receive(engine, item="petg", qty=70, to=shelf, lot="B")
    with unit_of_work(engine) as session:
        post(
            session=session,
            request=move_request(item="petg", qty=30, source=shelf, destination=other, lot="A"),
        )
    with unit_of_work(engine, read_only=True) as session:
        running = balances.balances(session=session, include_zero=True, include_virtual=False)
        assert balances.cache_discrepancies(session=session) == {}
    with unit_of_work(engine) as session:
        balances.rebuild_balance_cache(session=session)
    with unit_of_work(engine, read_only=True) as session:
        assert (
            balances.balances(session=session, include_zero=True, include_virtual=False) == running
        )
    with engine.begin() as connection:  # corrupt the cache: the check must see it
        connection.execute(text("UPDATE stock_balance SET qty = qty + 1"))
    with unit_of_work(engine, read_only=True) as session:
        assert len(balances.cache_discrepancies(session=session)) == len(running)
