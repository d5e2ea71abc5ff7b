"""Orders' web server state shared by its workers: rate-limit buckets and the forms' signing key.

A branch of its own (it needs no order table), so it merges with any other orders revision.

Revision ID: orders_web_0001
Revises:
Depends on: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "orders_web_0001"
down_revision = None
branch_labels = ("orders_web",)
depends_on = "0001"


def upgrade() -> None:
    op.create_table(
        "web_rate_bucket",
        sa.Column("key", sa.String(80), primary_key=True),
        sa.Column("tat", sa.Float(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "web_secret",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("value", sa.String(200), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("web_secret")
    op.drop_table("web_rate_bucket")
