"""Ledger core: reference records, items, locations, postings, moves and the balance cache.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

APPEND_ONLY_TABLES = ("posting", "stock_move")


def upgrade() -> None:
    op.create_table(
        "region",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(80), nullable=False, unique=True),
    )
    op.create_table(
        "fablab",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("slug", sa.String(120), nullable=False, unique=True),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("city", sa.String(120), nullable=False),
        sa.Column("contact", sa.String(200), nullable=False),
        sa.Column("region_id", sa.Integer(), sa.ForeignKey("region.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "hospital",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("slug", sa.String(120), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("city", sa.String(120), nullable=False),
        sa.Column("region_id", sa.Integer(), sa.ForeignKey("region.id"), nullable=False),
        sa.Column("finess", sa.String(9), nullable=False),
        sa.Column("address", sa.String(300), nullable=False),
    )
    op.create_table(
        "direccte",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "region_id", sa.Integer(), sa.ForeignKey("region.id"), nullable=False, unique=True
        ),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("seat_city", sa.String(120), nullable=False),
        sa.Column("sources", sa.String(2000), nullable=False),
    )
    op.create_table(
        "competitiveness_cluster",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("regions", sa.String(300), nullable=False),
        sa.Column("main_domains", sa.String(500), nullable=False),
        sa.Column("relevant", sa.String(200), nullable=False),
        sa.Column("label", sa.String(120), nullable=False),
        sa.Column("notes", sa.String(1000), nullable=False),
        sa.Column("sources", sa.String(4000), nullable=False),
    )
    op.create_table(
        "item",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("unit", sa.String(8), nullable=False),
        sa.Column("allow_negative", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "location",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(120), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("fablab_id", sa.Integer(), sa.ForeignKey("fablab.id"), nullable=True),
        sa.Column("hospital_id", sa.Integer(), sa.ForeignKey("hospital.id"), nullable=True),
    )
    op.create_index("ix_location_fablab_id", "location", ["fablab_id"])
    op.create_index("ix_location_hospital_id", "location", ["hospital_id"])
    op.create_table(
        "posting",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("reason", sa.String(24), nullable=False),
        sa.Column("doc_type", sa.String(40), nullable=False),
        sa.Column("doc_id", sa.String(120), nullable=False),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=True, unique=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column(
            "reverses_id", sa.Integer(), sa.ForeignKey("posting.id"), nullable=True, unique=True
        ),
        sa.Column("note", sa.String(500), nullable=False),
    )
    op.create_index("ix_posting_posted_at", "posting", ["posted_at"])
    op.create_table(
        "stock_move",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("posting_id", sa.Integer(), sa.ForeignKey("posting.id"), nullable=False),
        sa.Column("item_id", sa.Integer(), sa.ForeignKey("item.id"), nullable=False),
        sa.Column("location_id", sa.Integer(), sa.ForeignKey("location.id"), nullable=False),
        sa.Column("lot", sa.String(80), nullable=False),
        sa.Column("qty", sa.BigInteger(), nullable=False),
        sa.Column("unit", sa.String(8), nullable=False),
        sa.Column("reason", sa.String(24), nullable=False),
        sa.Column("doc_type", sa.String(40), nullable=False),
        sa.Column("doc_id", sa.String(120), nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_stock_move_posting_id", "stock_move", ["posting_id"])
    op.create_index(
        "ix_stock_move_balance", "stock_move", ["item_id", "location_id", "lot", "posted_at"]
    )
    op.create_index("ix_stock_move_document", "stock_move", ["doc_type", "doc_id"])
    op.create_index("ix_stock_move_location_time", "stock_move", ["location_id", "posted_at"])
    op.create_table(
        "stock_balance",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("item_id", sa.Integer(), sa.ForeignKey("item.id"), nullable=False),
        sa.Column("location_id", sa.Integer(), sa.ForeignKey("location.id"), nullable=False),
        sa.Column("lot", sa.String(80), nullable=False),
        sa.Column("qty", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("item_id", "location_id", "lot", name="uq_stock_balance"),
    )
    op.create_index("ix_stock_balance_location_id", "stock_balance", ["location_id"])
    for table in APPEND_ONLY_TABLES:
        _forbid_update_and_delete(table)


def _forbid_update_and_delete(table: str) -> None:
    """Make the table append-only in the database itself, whatever client writes to it."""
    message = f"{table} is append-only: post a reversal instead"
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
