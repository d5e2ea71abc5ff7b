"""Orders: the e-mail outbox (notifications to hospitals and managers, sent by a worker).

Revision ID: orders_0004
Revises: orders_0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "orders_0004"
down_revision = "orders_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "order_mail",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("order_id", sa.Integer(), sa.ForeignKey("hospital_order.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("audience", sa.String(16), nullable=False),
        sa.Column("to_address", sa.String(254), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(1000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("leased_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_order_mail_order_id", "order_mail", ["order_id"])
    op.create_index("ix_order_mail_due", "order_mail", ["state", "next_attempt_at"])


def downgrade() -> None:
    op.drop_table("order_mail")
