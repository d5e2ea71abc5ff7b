"""Hand-off: where a partner manufacturer ships from (its city and region), so the plan can place it.

Revision ID: handoff_0002
Revises: handoff_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "handoff_0002"
down_revision = "handoff_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("handoff_partner") as table:
        table.add_column(sa.Column("city", sa.String(120), nullable=False, server_default=""))
        table.add_column(sa.Column("region", sa.String(120), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("handoff_partner") as table:
        table.drop_column("region")
        table.drop_column("city")
