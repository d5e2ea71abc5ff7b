"""Concurrent writers cannot overdraw stock or post an idempotency key twice (both databases)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Engine

from fabcoord.config import Settings
from fabcoord.db import make_engine, unit_of_work
from fabcoord.errors import InsufficientStock
from fabcoord.ledger import balances, catalogue
from fabcoord.ledger.posting import post
from tests.factories import add_stock_location, move_request, receive

WORKERS = 20


def run_concurrently(work: Callable[[], object], workers: int = WORKERS) -> list[object]:
    """Start ``workers`` threads that call ``work`` at the same instant; return results or errors."""
    barrier = threading.Barrier(workers)

    def one() -> object:
        barrier.wait()
        try:
            return work()
        except Exception as error:
            return error

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda _: one(), range(workers)))


def test_twenty_consumers_of_ten_units_get_exactly_ten(settings: Settings) -> None:
    engine = make_engine(settings, pool_size=WORKERS + 2, max_overflow=0)
    try:
        shelf, ward = add_stock_location(engine), add_stock_location(engine)
        receive(engine, item="visor", qty=10, to=shelf)

        def consume_one() -> object:
            with unit_of_work(engine) as session:
                return post(
                    session=session,
                    request=move_request(item="visor", qty=1, source=shelf, destination=ward),
                )

        results = run_concurrently(consume_one)
        granted = [r for r in results if not isinstance(r, Exception)]
        refused = [r for r in results if isinstance(r, Exception)]
        assert len(granted) == 10
        assert all(isinstance(r, InsufficientStock) for r in refused), refused
        assert_quantities(engine, shelf=shelf, ward=ward, expected_shelf=0, expected_ward=10)
    finally:
        engine.dispose()


def test_concurrent_posts_with_one_idempotency_key_post_once(settings: Settings) -> None:
    engine = make_engine(settings, pool_size=WORKERS + 2, max_overflow=0)
    try:
        shelf = add_stock_location(engine)
        request = move_request(
            item="petg", qty=250, source=catalogue.SUPPLIERS, destination=shelf, key="BL-77"
        )

        def post_once() -> object:
            with unit_of_work(engine) as session:
                return post(session=session, request=request).id

        results = run_concurrently(post_once)
        assert not [r for r in results if isinstance(r, Exception)], results
        assert len(set(results)) == 1
        with unit_of_work(engine, read_only=True) as session:
            shelf_id = catalogue.get_location(session=session, code=shelf).id or 0
            petg = catalogue.get_item(session=session, code="petg").id or 0
            assert balances.quantity(session=session, item_id=petg, location_id=shelf_id) == 250
    finally:
        engine.dispose()


def assert_quantities(
    engine: Engine, *, shelf: str, ward: str, expected_shelf: int, expected_ward: int
) -> None:
    with unit_of_work(engine, read_only=True) as session:
        visor = catalogue.get_item(session=session, code="visor").id or 0
        shelf_id = catalogue.get_location(session=session, code=shelf).id or 0
        ward_id = catalogue.get_location(session=session, code=ward).id or 0
        assert (
            balances.quantity(session=session, item_id=visor, location_id=shelf_id)
            == expected_shelf
        )
        assert (
            balances.quantity(session=session, item_id=visor, location_id=ward_id) == expected_ward
        )
        assert balances.cache_discrepancies(session=session) == {}
