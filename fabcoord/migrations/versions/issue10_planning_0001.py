"""Planning: makers and their deliveries, fablab working hours, plans.

Revision ID: issue10_planning_0001
Revises:
Depends on: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "issue10_planning_0001"
down_revision = None
branch_labels = ("core_planning",)
depends_on = "0001"


def upgrade() -> None:
    op.create_table(
        "maker",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(120), nullable=False, unique=True),
        sa.Column("fablab_id", sa.Integer(), sa.ForeignKey("fablab.id"), nullable=False),
        sa.Column("declared_per_day", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_maker_fablab_id", "maker", ["fablab_id"])
    op.create_table(
        "maker_delivery",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("maker_id", sa.Integer(), sa.ForeignKey("maker.id"), nullable=False),
        sa.Column("frames", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(40), nullable=False),
        sa.Column("posting_id", sa.Integer(), sa.ForeignKey("posting.id"), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_maker_delivery_maker_id", "maker_delivery", ["maker_id"])
    op.create_table(
        "fablab_hours",
        sa.Column("fablab_id", sa.Integer(), sa.ForeignKey("fablab.id"), primary_key=True),
        sa.Column("hours_per_day", sa.Float(), nullable=False),
    )
    op.create_table(
        "plan",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(120), nullable=False),
        sa.Column("today", sa.Date(), nullable=False),
        sa.Column("horizon_days", sa.Integer(), nullable=False),
        sa.Column("solver", sa.String(60), nullable=False),
        sa.Column("cost", sa.BigInteger(), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("inputs", sa.Text(), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("accepted_by", sa.String(120), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("plan")
    op.drop_table("fablab_hours")
    op.drop_table("maker_delivery")
    op.drop_table("maker")
