"""Orders: delivery sites, order lines, the hospital's purchase-order number, links per person.

Existing orders get one line each (their model and quantity), a site made from their delivery
address (one per distinct address of a hospital), and their projection in ``demand_line``.

Revision ID: orders_0002
Revises: orders_0001
Depends on: core_demand_0001
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "orders_0002"
down_revision = "orders_0001"
branch_labels = None
depends_on = "core_demand_0001"

_STATE = {
    "received": "pending",
    "accepted": "open",
    "planned": "open",
    "in_production": "open",
    "shipped": "open",
}
_WEIGHT = {"normal": 1, "urgent": 2, "critical": 3}
_POSTAL = re.compile(r"\b(\d{5})\s+([^,\n]+)\s*$")


def upgrade() -> None:
    op.create_table(
        "hospital_site",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("hospital_id", sa.Integer(), sa.ForeignKey("hospital.id"), nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("address", sa.String(300), nullable=False),
        sa.Column("postal_code", sa.String(10), nullable=False),
        sa.Column("city", sa.String(120), nullable=False),
        sa.Column("contact", sa.String(200), nullable=False),
        sa.Column("source", sa.String(300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(120), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_hospital_site_hospital_name", "hospital_site", ["hospital_id", "name"])
    op.create_table(
        "hospital_order_line",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("order_id", sa.Integer(), sa.ForeignKey("hospital_order.id"), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("item_code", sa.String(64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.UniqueConstraint("order_id", "line", name="uq_hospital_order_line"),
    )
    op.create_index("ix_hospital_order_line_order_id", "hospital_order_line", ["order_id"])
    _add_reference("hospital_order", "site_id", "hospital_site")
    op.add_column(
        "hospital_order",
        sa.Column("purchase_order", sa.String(60), nullable=False, server_default=""),
    )
    op.add_column(
        "hospital_link",
        sa.Column("person_name", sa.String(120), nullable=False, server_default=""),
    )
    op.add_column(
        "hospital_link",
        sa.Column("person_email", sa.String(254), nullable=False, server_default=""),
    )
    op.add_column("hospital_link", sa.Column("expires_at", sa.DateTime(timezone=True)))
    op.add_column("hospital_link", sa.Column("last_used_at", sa.DateTime(timezone=True)))
    _add_reference("hospital_order_event", "link_id", "hospital_link")
    _migrate_orders()


def _add_reference(table: str, column: str, target: str) -> None:
    """A nullable foreign-key column added in place (no table rebuild: the order tables are
    referenced, and the event log forbids the UPDATE and DELETE a rebuild would need)."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"ALTER TABLE {table} ADD COLUMN {column} INTEGER REFERENCES {target} (id)")
        return
    op.add_column(table, sa.Column(column, sa.Integer(), nullable=True))
    op.create_foreign_key(f"fk_{table}_{column}", table, target, [column], ["id"])


def _migrate_orders() -> None:
    """One line per existing order, its site, and its demand projection."""
    bind = op.get_bind()
    orders = bind.execute(
        sa.text(
            "SELECT id, reference, hospital_id, item_code, quantity, needed_by, delivery_address,"
            " priority, status, created_at FROM hospital_order ORDER BY id"
        )
    ).all()
    sites: dict[tuple[int, str], int] = {}
    now = datetime.now(UTC)
    for order in orders:
        (order_id, reference, hospital_id, item, quantity, needed_by, address, priority, status) = (
            order[:9]
        )
        bind.execute(
            sa.text(
                "INSERT INTO hospital_order_line (order_id, line, item_code, quantity)"
                " VALUES (:o, 1, :i, :q)"
            ),
            {"o": order_id, "i": item, "q": quantity},
        )
        key = (hospital_id, address)
        if key not in sites:
            first = address.split(",")[0].split("\n")[0].strip()[:120] or "Adresse de livraison"
            found = _POSTAL.search(address)
            bind.execute(
                sa.text(
                    "INSERT INTO hospital_site (hospital_id, name, address, postal_code, city,"
                    " contact, source, created_at, created_by)"
                    " VALUES (:h, :n, :a, :p, :c, '', '', :t, 'migration')"
                ),
                {
                    "h": hospital_id,
                    "n": first,
                    "a": address,
                    "p": found.group(1) if found else "",
                    "c": found.group(2).strip()[:120] if found else "",
                    "t": now,
                },
            )
            sites[key] = int(
                bind.execute(sa.text("SELECT MAX(id) FROM hospital_site")).scalar_one()
            )
        bind.execute(
            sa.text("UPDATE hospital_order SET site_id = :s WHERE id = :o"),
            {"s": sites[key], "o": order_id},
        )
        bind.execute(
            sa.text(
                "INSERT INTO demand_line (reference, line, hospital_id, item_code, quantity,"
                " needed_by, priority, site, state, status, updated_at)"
                " VALUES (:r, 1, :h, :i, :q, :n, :p, :s, :st, :w, :t)"
            ),
            {
                "r": reference,
                "h": hospital_id,
                "i": item,
                "q": quantity,
                "n": needed_by,
                "p": _WEIGHT.get(priority, 1),
                "s": address[:300],
                "st": _STATE.get(status, "closed"),
                "w": status,
                "t": now,
            },
        )


def downgrade() -> None:
    op.drop_column("hospital_order_event", "link_id")
    for column in ("last_used_at", "expires_at", "person_email", "person_name"):
        op.drop_column("hospital_link", column)
    op.drop_column("hospital_order", "purchase_order")
    op.drop_column("hospital_order", "site_id")
    op.drop_table("hospital_order_line")
    op.drop_table("hospital_site")
