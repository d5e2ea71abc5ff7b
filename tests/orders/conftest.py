"""Fixtures for order intake: a hospital with a secret link, the app and an HTTP client."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from fabcoord.config import Settings
from fabcoord.db import unit_of_work
from fabcoord.ledger import catalogue
from fabcoord.ledger.models import ItemKind, Unit
from fabcoord.reference import load_reference_data
from orders import links
from orders.schemas import today
from orders.web import create_app
from tests.factories import ledger_snapshot

HOSPITAL = "CHU de Poitiers"
OTHER_HOSPITAL = "CHU de Bordeaux"
SECRET = "test-secret-key-0123456789abcdef0123456789"
SECOND_MODEL = "visor-xl"


@pytest.fixture
def reference_loaded(engine: Engine, settings: Settings) -> Engine:
    with unit_of_work(engine) as session:
        load_reference_data(session=session, data_dir=settings.data_dir)
    return engine


@pytest.fixture
def second_model(reference_loaded: Engine) -> str:
    """A second model hospitals may order (the standard catalogue has one, ``visor``), for
    orders of several lines: one line per model."""
    with unit_of_work(reference_loaded) as session:
        catalogue.add_item(
            session=session,
            code=SECOND_MODEL,
            name="Visière de protection, grande taille",
            kind=ItemKind.FINISHED,
            unit=Unit.PIECE,
        )
    return SECOND_MODEL


def invite(engine: Engine, hospital: str = HOSPITAL) -> str:
    with unit_of_work(engine) as session:
        return links.invite(session=session, hospital=hospital, actor="tester").token


@pytest.fixture
def token(reference_loaded: Engine) -> str:
    return invite(reference_loaded)


@pytest.fixture
def web_settings(settings: Settings) -> Settings:
    return Settings(
        database_url=settings.database_url,
        data_dir=settings.data_dir,
        actor="tester",
        secret_key=SECRET,  # type: ignore[arg-type]
        web_rate_per_link=10_000,
        web_rate_per_address=10_000,
    )


@pytest.fixture
def client(web_settings: Settings, reference_loaded: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(web_settings)) as test_client:
        yield test_client


def valid_order(**changes: Any) -> dict[str, Any]:
    order: dict[str, Any] = {
        "department": "Réanimation médicale",
        "contact_name": "Claire Martin",
        "contact_email": "claire.martin@chu-poitiers.fr",
        "contact_phone": "05 49 44 44 44",
        "item": "visor",
        "quantity": 250,
        "needed_by": (today() + timedelta(days=7)).isoformat(),
        "delivery_address": "2 rue de la Milétrie, 86000 Poitiers",
        "priority": "urgent",
        "urgency_reason": "Afflux de patients COVID",
        "notes": "Livrer au magasin central",
    }
    order.update(changes)
    return {k: v for k, v in order.items() if v is not None}


def state(engine: Engine) -> dict[str, Any]:
    """The ledger and the order tables, to prove that a refused request changed nothing."""
    snapshot: dict[str, Any] = dict(ledger_snapshot(engine))
    with engine.connect() as connection:
        for table in (
            "hospital_order",
            "hospital_order_event",
            "hospital_order_line",
            "hospital_site",
            "demand_line",
            "order_mail",
        ):
            snapshot[table] = [
                tuple(row) for row in connection.execute(text(f"SELECT * FROM {table} ORDER BY id"))
            ]
    return snapshot


def order_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT COUNT(*) FROM hospital_order")).scalar_one())
