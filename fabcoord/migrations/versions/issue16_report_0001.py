"""Reports: the moves of a period read from one index, without visiting the table.

The weekly report groups eight weeks of moves by time bucket, location, item and reason, and counts
the prints of two weeks per fablab. With every column those reads need in this index (time first),
they are one index range scan on SQLite and an index-only scan on PostgreSQL, whatever the size of
the ledger before the window.

Revision ID: issue16_report_0001
Revises:
Depends on: 0001
"""

from __future__ import annotations

from alembic import op

revision = "issue16_report_0001"
down_revision = None
branch_labels = ("core_report",)
depends_on = "0001"

COLUMNS = ["posted_at", "location_id", "item_id", "reason", "qty", "posting_id"]


def upgrade() -> None:
    op.create_index("ix_stock_move_period", "stock_move", COLUMNS)


def downgrade() -> None:
    op.drop_index("ix_stock_move_period", table_name="stock_move")
