"""Hand-off: the plan that drafted a hand-off, and why a hand-off was cancelled.

A draft an accepted plan recorded (``plan_id``) and never sent is replaced when a later plan is
accepted: it is cancelled with the cause in ``cancel_reason``.

Revision ID: handoff_0003
Revises: handoff_0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "handoff_0003"
down_revision = "handoff_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("handoff") as table:
        table.add_column(sa.Column("plan_id", sa.Integer(), nullable=True))
        table.add_column(
            sa.Column("cancel_reason", sa.String(300), nullable=False, server_default="")
        )
    op.create_index("ix_handoff_plan_id", "handoff", ["plan_id"])


def downgrade() -> None:
    op.drop_index("ix_handoff_plan_id", table_name="handoff")
    with op.batch_alter_table("handoff") as table:
        table.drop_column("cancel_reason")
        table.drop_column("plan_id")
