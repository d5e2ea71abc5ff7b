"""Core demand: order lines as the core sees them, and the documents that serve them.

Revision ID: core_demand_0001
Revises:
Depends on: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "core_demand_0001"
down_revision = None
branch_labels = ("core_demand",)
depends_on = "0001"


def upgrade() -> None:
    op.create_table(
        "demand_line",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("reference", sa.String(40), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("hospital_id", sa.Integer(), sa.ForeignKey("hospital.id"), nullable=False),
        sa.Column("item_code", sa.String(64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("needed_by", sa.Date(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("site", sa.String(300), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("reference", "line", name="uq_demand_line"),
    )
    op.create_index("ix_demand_line_reference", "demand_line", ["reference"])
    op.create_index("ix_demand_line_hospital_id", "demand_line", ["hospital_id"])
    op.create_table(
        "demand_document",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("doc_type", sa.String(40), nullable=False),
        sa.Column("doc_id", sa.String(120), nullable=False),
        sa.Column("reference", sa.String(40), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("doc_type", "doc_id", "reference", "line", name="uq_demand_document"),
    )
    op.create_index("ix_demand_document_reference", "demand_document", ["reference"])


def downgrade() -> None:
    op.drop_table("demand_document")
    op.drop_table("demand_line")
