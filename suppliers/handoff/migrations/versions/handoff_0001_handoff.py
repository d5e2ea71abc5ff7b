"""Hand-off: partner manufacturers, hand-offs, their outbox and receipts.

Revision ID: handoff_0001
Revises:
Depends on: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "handoff_0001"
down_revision = None
branch_labels = ("handoff",)
depends_on = "0001"


def upgrade() -> None:
    op.create_table(
        "handoff_partner",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(120), nullable=False, unique=True),
        sa.Column("odoo_url", sa.String(300), nullable=False),
        sa.Column("database", sa.String(120), nullable=False),
        sa.Column("login", sa.String(120), nullable=False),
        sa.Column("api_key_env", sa.String(120), nullable=False),
        sa.Column("protocol", sa.String(16), nullable=False),
        sa.Column("capacity_per_day", sa.Integer(), nullable=False),
        sa.Column("minimum_order", sa.Integer(), nullable=False),
        sa.Column("lead_time_days", sa.Integer(), nullable=False),
        sa.Column("timeout_s", sa.Float(), nullable=False),
        sa.Column("customer_name", sa.String(120), nullable=False),
        sa.Column("odoo_version", sa.String(40), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "handoff",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("partner_id", sa.Integer(), sa.ForeignKey("handoff_partner.id"), nullable=False),
        sa.Column("item_code", sa.String(64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("needed_by", sa.Date(), nullable=False),
        sa.Column("destination", sa.String(120), nullable=False),
        sa.Column("orders", sa.String(2000), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("manual", sa.Boolean(), nullable=False),
        sa.Column("remote_id", sa.Integer(), nullable=True),
        sa.Column("remote_name", sa.String(80), nullable=False),
        sa.Column("remote_state", sa.String(24), nullable=False),
        sa.Column("delivered", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(1000), nullable=False),
        sa.Column("note", sa.String(500), nullable=False),
        sa.Column("created_by", sa.String(120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_handoff_partner_id", "handoff", ["partner_id"])
    op.create_table(
        "handoff_command",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("handoff_id", sa.Integer(), sa.ForeignKey("handoff.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("leased_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(1000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_handoff_command_handoff_id", "handoff_command", ["handoff_id"])
    op.create_index("ix_handoff_command_due", "handoff_command", ["state", "next_attempt_at"])
    op.create_table(
        "handoff_receipt",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("handoff_id", sa.Integer(), sa.ForeignKey("handoff.id"), nullable=False),
        sa.Column("source", sa.String(80), nullable=False),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("state", sa.String(24), nullable=False),
        sa.Column("posted", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("handoff_id", "source", name="uq_handoff_receipt"),
    )


def downgrade() -> None:
    op.drop_table("handoff_receipt")
    op.drop_table("handoff_command")
    op.drop_table("handoff")
    op.drop_table("handoff_partner")
