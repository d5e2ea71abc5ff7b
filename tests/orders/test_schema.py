"""The orders migration creates exactly the tables the models describe; settings are validated."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine
from sqlmodel import SQLModel

import orders.models  # noqa: F401  (registers the tables)
from fabcoord.config import load_settings
from fabcoord.errors import ConfigError

TABLES = {
    "hospital_link",
    "hospital_order",
    "hospital_order_event",
    "hospital_order_line",
    "hospital_site",
}


def _touches_orders(difference: object) -> bool:
    text = repr(difference)
    return any(table in text for table in TABLES)


def test_the_migrated_schema_matches_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, SQLModel.metadata)
    assert [d for d in differences if _touches_orders(d)] == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("secret_key", "too-short"),
        ("public_url", "javascript:alert(1)"),
        ("web_max_body_bytes", "10"),
        ("web_rate_per_link", "0"),
    ],
)
def test_bad_web_settings_are_refused_naming_the_setting(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings(**{name: value})
