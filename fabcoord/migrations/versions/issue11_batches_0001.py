"""Core batches: batches, their frame sources and inspections, and shipments.

Revision ID: issue11_batches_0001
Revises:
Depends on: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "issue11_batches_0001"
down_revision = None
branch_labels = ("core_batches",)
depends_on = "0001"


def upgrade() -> None:
    op.create_table(
        "batch",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("number", sa.String(40), nullable=False, unique=True),
        sa.Column("fablab_id", sa.Integer(), sa.ForeignKey("fablab.id"), nullable=False),
        sa.Column("design", sa.String(80), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("assembled_by", sa.String(120), nullable=False),
        sa.Column("assembled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("posting_id", sa.Integer(), sa.ForeignKey("posting.id"), nullable=False),
        sa.Column("released_by", sa.String(120), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recall_reason", sa.String(500), nullable=False),
    )
    op.create_index("ix_batch_fablab_id", "batch", ["fablab_id"])
    op.create_table(
        "batch_source",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("batch_id", sa.Integer(), sa.ForeignKey("batch.id"), nullable=False),
        sa.Column("doc_type", sa.String(40), nullable=False),
        sa.Column("doc_id", sa.String(120), nullable=False),
        sa.Column("posting_id", sa.Integer(), sa.ForeignKey("posting.id"), nullable=False),
        sa.Column("frames", sa.Integer(), nullable=False),
    )
    op.create_index("ix_batch_source_batch_id", "batch_source", ["batch_id"])
    op.create_table(
        "inspection",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("batch_id", sa.Integer(), sa.ForeignKey("batch.id"), nullable=False),
        sa.Column("inspector", sa.String(120), nullable=False),
        sa.Column("inspected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sample_size", sa.Integer(), nullable=False),
        sa.Column("results", sa.Text(), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("cleaning_product", sa.String(200), nullable=False),
        sa.Column("cleaning_date", sa.Date(), nullable=True),
        sa.Column("note", sa.String(500), nullable=False),
    )
    op.create_index("ix_inspection_batch_id", "inspection", ["batch_id"])
    op.create_table(
        "shipment",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("number", sa.String(40), nullable=False, unique=True),
        sa.Column("reference", sa.String(40), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), sa.ForeignKey("batch.id"), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("carrier", sa.String(120), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("shipped_by", sa.String(120), nullable=False),
        sa.Column("shipped_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received", sa.Integer(), nullable=True),
        sa.Column("refused", sa.Integer(), nullable=True),
        sa.Column("refusal_reason", sa.String(500), nullable=False),
        sa.Column("signed_by", sa.String(120), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_shipment_reference", "shipment", ["reference"])
    op.create_index("ix_shipment_batch_id", "shipment", ["batch_id"])


def downgrade() -> None:
    op.drop_table("shipment")
    op.drop_table("inspection")
    op.drop_table("batch_source")
    op.drop_table("batch")
