"""Orders: each event records what the order said after it (quantity, needed-by date, promised
date), so a report can state an order as of a past moment.

Events written before this revision keep these columns empty; a report then reads the order's
current values for them.

Revision ID: orders_0003
Revises: orders_0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "orders_0003"
down_revision = "orders_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("hospital_order_event", sa.Column("quantity", sa.Integer(), nullable=True))
    op.add_column("hospital_order_event", sa.Column("needed_by", sa.Date(), nullable=True))
    op.add_column("hospital_order_event", sa.Column("expected_delivery", sa.Date(), nullable=True))


def downgrade() -> None:
    for column in ("expected_delivery", "needed_by", "quantity"):
        op.drop_column("hospital_order_event", column)
