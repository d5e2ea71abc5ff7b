"""Suppliers: directory (suppliers, their sources and materials, imports) and purchase orders.

Revision ID: suppliers_0001
Revises:
Depends on: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "suppliers_0001"
down_revision = None
branch_labels = ("suppliers",)
depends_on = "0001"


def upgrade() -> None:
    op.create_table(
        "supplier",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("siret", sa.String(14), nullable=True, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("name_key", sa.String(200), nullable=False),
        sa.Column("address", sa.String(300), nullable=False),
        sa.Column("postal_code", sa.String(10), nullable=False),
        sa.Column("city", sa.String(120), nullable=False),
        sa.Column("region_id", sa.Integer(), sa.ForeignKey("region.id"), nullable=False),
        sa.Column("contact", sa.String(300), nullable=False),
        sa.Column("products", sa.String(2000), nullable=False),
        sa.Column("capacity", sa.String(200), nullable=False),
        sa.Column("lead_time_days", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_supplier_name_postal", "supplier", ["name_key", "postal_code"])
    op.create_index("ix_supplier_region_id", "supplier", ["region_id"])
    op.create_table(
        "supplier_source",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("supplier_id", sa.Integer(), sa.ForeignKey("supplier.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("directory", sa.String(200), nullable=False),
        sa.Column("file_name", sa.String(300), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("supplier_id", "kind", "directory", name="uq_supplier_source"),
    )
    op.create_index("ix_supplier_source_supplier_id", "supplier_source", ["supplier_id"])
    op.create_table(
        "supplier_material",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("supplier_id", sa.Integer(), sa.ForeignKey("supplier.id"), nullable=False),
        sa.Column("item_code", sa.String(64), nullable=False),
        sa.Column("keywords", sa.String(300), nullable=False),
        sa.UniqueConstraint("supplier_id", "item_code", name="uq_supplier_material"),
    )
    op.create_index("ix_supplier_material_item_code", "supplier_material", ["item_code"])
    op.create_table(
        "supplier_import",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("directory", sa.String(200), nullable=False),
        sa.Column("file_name", sa.String(300), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("added", sa.Integer(), nullable=False),
        sa.Column("merged", sa.Integer(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.UniqueConstraint("digest", "kind", "directory", name="uq_supplier_import"),
    )
    op.create_table(
        "purchase_order",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("supplier_id", sa.Integer(), sa.ForeignKey("supplier.id"), nullable=False),
        sa.Column("fablab_id", sa.Integer(), sa.ForeignKey("fablab.id"), nullable=False),
        sa.Column("item_code", sa.String(64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("received", sa.Integer(), nullable=False),
        sa.Column("price_unit", sa.String(8), nullable=False),
        sa.Column("unit_price_cents", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("expected_on", sa.Date(), nullable=True),
        sa.Column("note", sa.String(500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(120), nullable=False),
    )
    op.create_index("ix_purchase_order_supplier_id", "purchase_order", ["supplier_id"])
    op.create_index("ix_purchase_order_state", "purchase_order", ["state", "fablab_id"])
    op.create_table(
        "purchase_receipt",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("order_id", sa.Integer(), sa.ForeignKey("purchase_order.id"), nullable=False),
        sa.Column("lot", sa.String(80), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("posting_id", sa.Integer(), sa.ForeignKey("posting.id"), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(120), nullable=False),
    )
    op.create_index("ix_purchase_receipt_order_id", "purchase_receipt", ["order_id"])
    op.create_index("ix_purchase_receipt_lot", "purchase_receipt", ["lot"])


def downgrade() -> None:
    for table in (
        "purchase_receipt",
        "purchase_order",
        "supplier_import",
        "supplier_material",
        "supplier_source",
        "supplier",
    ):
        op.drop_table(table)
