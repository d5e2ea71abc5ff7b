"""Concurrent submissions with one idempotency key make one order, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading

from sqlalchemy import Engine
from sqlmodel import col, select

from fabcoord.db import unit_of_work
from fabcoord.records import Hospital
from orders import service
from orders.models import HospitalSite
from orders.schemas import OrderCreate
from tests.orders.conftest import HOSPITAL, order_count, valid_order

WRITERS = 8


def test_simultaneous_requests_with_one_key_create_one_order(reference_loaded: Engine) -> None:
    _submit_together(reference_loaded, valid_order())
    assert order_count(reference_loaded) == 1


def test_simultaneous_requests_with_one_key_and_a_new_address_make_one_site(
    reference_loaded: Engine,
) -> None:
    _submit_together(reference_loaded, valid_order(delivery_address=NEW_ADDRESS))
    assert order_count(reference_loaded) == 1
    with unit_of_work(reference_loaded, read_only=True) as session:
        made = session.exec(
            select(HospitalSite.id).where(col(HospitalSite.address).contains("Inconnue"))
        ).all()
    assert len(made) == 1  # the replays' sites were undone with them


NEW_ADDRESS = "7 rue Inconnue, 86000 Poitiers"


def _submit_together(reference_loaded: Engine, fields: dict[str, object]) -> None:
    with unit_of_work(reference_loaded, read_only=True) as session:
        hospital_id = session.exec(select(Hospital.id).where(Hospital.name == HOSPITAL)).one()
    body = OrderCreate.model_validate(fields)
    start = threading.Barrier(WRITERS)
    references: list[str] = []
    failures: list[BaseException] = []

    def submit() -> None:
        start.wait()
        try:
            with unit_of_work(reference_loaded) as session:
                order, _ = service.create_order(
                    session=session,
                    hospital_id=hospital_id or 0,
                    order=body,
                    actor="t",
                    channel="api",
                    idempotency_key="api:same",
                )
                references.append(order.reference)
        except BaseException as error:  # collected and reported below
            failures.append(error)

    threads = [threading.Thread(target=submit) for _ in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert len(set(references)) == 1 and len(references) == WRITERS
