"""Orders: hospital access links, hospital orders and their append-only event log.

Revision ID: orders_0001
Revises:
Depends on: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "orders_0001"
down_revision = None
branch_labels = ("orders",)
depends_on = "0001"


def upgrade() -> None:
    op.create_table(
        "hospital_link",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("hospital_id", sa.Integer(), sa.ForeignKey("hospital.id"), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("hint", sa.String(8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(120), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(120), nullable=True),
    )
    op.create_index("ix_hospital_link_hospital_id", "hospital_link", ["hospital_id"])
    op.create_table(
        "hospital_order",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("reference", sa.String(40), nullable=False, unique=True),
        sa.Column("hospital_id", sa.Integer(), sa.ForeignKey("hospital.id"), nullable=False),
        sa.Column("link_id", sa.Integer(), sa.ForeignKey("hospital_link.id"), nullable=True),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("item_code", sa.String(64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("department", sa.String(120), nullable=False),
        sa.Column("contact_name", sa.String(120), nullable=False),
        sa.Column("contact_email", sa.String(254), nullable=False),
        sa.Column("contact_phone", sa.String(30), nullable=False),
        sa.Column("needed_by", sa.Date(), nullable=False),
        sa.Column("delivery_address", sa.String(300), nullable=False),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("urgency_reason", sa.String(500), nullable=False),
        sa.Column("notes", sa.String(2000), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("allocated", sa.Integer(), nullable=False),
        sa.Column("expected_delivery", sa.Date(), nullable=True),
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("hospital_id", "idempotency_key", name="uq_hospital_order_idempotency"),
    )
    op.create_index("ix_hospital_order_status", "hospital_order", ["status"])
    op.create_index(
        "ix_hospital_order_hospital_created", "hospital_order", ["hospital_id", "created_at"]
    )
    op.create_table(
        "hospital_order_event",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("order_id", sa.Integer(), sa.ForeignKey("hospital_order.id"), nullable=False),
        sa.Column("from_status", sa.String(16), nullable=True),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_hospital_order_event_order_id", "hospital_order_event", ["order_id"])
    _forbid_update_and_delete("hospital_order_event")


def _forbid_update_and_delete(table: str) -> None:
    """Make the event log append-only in the database itself."""
    message = f"{table} is append-only"
    if op.get_bind().dialect.name == "sqlite":
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
            )
        return
    op.execute(
        f"CREATE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN RAISE EXCEPTION '{message}'; END $$"
    )
    op.execute(
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON {table} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {table}_append_only()"
    )
