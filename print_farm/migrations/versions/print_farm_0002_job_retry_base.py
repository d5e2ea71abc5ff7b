"""Print farm: ``farm_job.retry_base`` (attempt limit counted from the last ``farm retry``).

The new job state ``held`` needs no schema change: states are stored as plain text.

Revision ID: print_farm_0002
Revises: print_farm_0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "print_farm_0002"
down_revision = "print_farm_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("farm_job") as batch:
        batch.add_column(sa.Column("retry_base", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("farm_job") as batch:
        batch.drop_column("retry_base")
