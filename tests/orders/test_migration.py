"""Orders placed before sites and lines existed keep working after the upgrade."""

from __future__ import annotations

from alembic import command
from sqlalchemy import Engine, text

from fabcoord.config import Settings
from fabcoord.db import make_engine
from fabcoord.schema import _config
from tests.conftest import migration_locations

ORDER = {
    "reference": "CMD-2026-000001",
    "address": "2 rue de la Milétrie, 86000 Poitiers",
}


def _upgrade(engine: Engine, target: str) -> None:
    config = _config(migration_locations())
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, target)


def test_existing_orders_get_one_line_a_site_and_their_projection(
    empty_database_url: str,
) -> None:
    engine = make_engine(Settings(database_url=empty_database_url))
    try:
        _upgrade(engine, "orders_0001")
        with engine.begin() as connection:
            connection.execute(
                text("INSERT INTO region (id, name) VALUES (1, 'Nouvelle-Aquitaine')")
            )
            connection.execute(
                text(
                    "INSERT INTO hospital (id, slug, name, city, region_id, finess, address)"
                    " VALUES (1, 'chu-de-poitiers', 'CHU de Poitiers', 'Poitiers', 1, '', '')"
                )
            )
            for number in (1, 2):
                connection.execute(
                    text(
                        "INSERT INTO hospital_order (reference, hospital_id, channel, item_code,"
                        " quantity, department, contact_name, contact_email, contact_phone,"
                        " needed_by, delivery_address, priority, urgency_reason, notes, status,"
                        " allocated, fingerprint, created_at, updated_at) VALUES (:r, 1, 'web',"
                        " 'visor', :q, 'Réa', 'C', 'c@chu.fr', '0549444444', '2026-12-30', :a,"
                        " 'urgent', 'afflux', '', :s, 0, 'f', CURRENT_TIMESTAMP,"
                        " CURRENT_TIMESTAMP)"
                    ),
                    {
                        "r": f"CMD-2026-00000{number}",
                        "q": 100 * number,
                        "a": ORDER["address"],
                        "s": "accepted" if number == 1 else "delivered",
                    },
                )
        _upgrade(engine, "heads")
        with engine.connect() as connection:
            lines = connection.execute(
                text("SELECT line, item_code, quantity FROM hospital_order_line ORDER BY id")
            ).all()
            sites = connection.execute(
                text("SELECT name, postal_code, city FROM hospital_site")
            ).all()
            orders = connection.execute(
                text("SELECT site_id, purchase_order FROM hospital_order ORDER BY id")
            ).all()
            projected = connection.execute(
                text(
                    "SELECT reference, line, quantity, state, status, priority FROM demand_line"
                    " ORDER BY reference"
                )
            ).all()
        assert [tuple(x) for x in lines] == [(1, "visor", 100), (1, "visor", 200)]
        assert [tuple(x) for x in sites] == [("2 rue de la Milétrie", "86000", "Poitiers")]
        assert len({row[0] for row in orders}) == 1 and orders[0][1] == ""
        assert [tuple(x) for x in projected] == [
            ("CMD-2026-000001", 1, 100, "open", "accepted", 2),
            ("CMD-2026-000002", 1, 200, "closed", "delivered", 2),
        ]
    finally:
        engine.dispose()
