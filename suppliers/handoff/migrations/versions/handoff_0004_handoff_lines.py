"""Hand-off: the order lines a hand-off serves, with the units of each.

A hand-off a plan allocation made knows its lines; one made by hand without lines has none (its
volume is then counted over its orders' lines of its item, in line order).

Revision ID: handoff_0004
Revises: handoff_0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "handoff_0004"
down_revision = "handoff_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "handoff_line",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("handoff_id", sa.Integer(), sa.ForeignKey("handoff.id"), nullable=False),
        sa.Column("reference", sa.String(40), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.UniqueConstraint("handoff_id", "reference", "line", name="uq_handoff_line"),
    )
    op.create_index("ix_handoff_line_handoff_id", "handoff_line", ["handoff_id"])


def downgrade() -> None:
    op.drop_index("ix_handoff_line_handoff_id", table_name="handoff_line")
    op.drop_table("handoff_line")
