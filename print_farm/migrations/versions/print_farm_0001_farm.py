"""Print farm: printers, G-code blobs, designs, print jobs.

Revision ID: print_farm_0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "print_farm_0001"
down_revision = None
branch_labels = ("print_farm",)
depends_on = "0001"


def _when(name: str, *, nullable: bool = True) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "farm_printer",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("fablab_id", sa.Integer(), sa.ForeignKey("fablab.id"), nullable=False),
        sa.Column("location_id", sa.Integer(), sa.ForeignKey("location.id"), nullable=False),
        sa.Column("url", sa.String(300), nullable=False),
        sa.Column("api_key_env", sa.String(120), nullable=False),
        sa.Column("api_key_file", sa.String(500), nullable=False),
        sa.Column("nozzle_um", sa.Integer(), nullable=False),
        sa.Column("bed_x_mm", sa.Integer(), nullable=False),
        sa.Column("bed_y_mm", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("maintenance_note", sa.String(300), nullable=False),
        sa.Column("auto_clear", sa.Boolean(), nullable=False),
        sa.Column("bed_clear", sa.Boolean(), nullable=False),
        _when("cleared_at"),
        sa.Column("loaded_material", sa.String(64), nullable=False),
        sa.Column("loaded_lot", sa.String(80), nullable=False),
        sa.Column("removed", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(80), nullable=False),
        sa.Column("reachable", sa.Boolean(), nullable=False),
        _when("last_seen_at"),
        sa.Column("completion", sa.Float(), nullable=True),
        sa.Column("time_left_s", sa.Integer(), nullable=True),
        sa.Column("notice", sa.String(300), nullable=False),
        sa.Column("lease_owner", sa.String(120), nullable=False),
        _when("lease_expires_at"),
        sa.Column("current_job_id", sa.Integer(), nullable=True),
        _when("created_at", nullable=False),
    )
    op.create_index("ix_farm_printer_fablab_id", "farm_printer", ["fablab_id"])
    op.create_table(
        "farm_gcode_blob",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        _when("created_at", nullable=False),
    )
    op.create_table(
        "farm_design",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(120), nullable=False, unique=True),
        sa.Column("blob_id", sa.Integer(), sa.ForeignKey("farm_gcode_blob.id"), nullable=False),
        sa.Column("units_per_print", sa.Integer(), nullable=False),
        sa.Column("material", sa.String(64), nullable=False),
        sa.Column("grams", sa.Integer(), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        _when("created_at", nullable=False),
    )
    op.create_table(
        "farm_job",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("design_id", sa.Integer(), sa.ForeignKey("farm_design.id"), nullable=False),
        sa.Column("fablab_id", sa.Integer(), sa.ForeignKey("fablab.id"), nullable=True),
        sa.Column("order_ref", sa.String(120), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        _when("needed_by"),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("printer_id", sa.Integer(), sa.ForeignKey("farm_printer.id"), nullable=True),
        sa.Column("lot", sa.String(80), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("last_error", sa.String(300), nullable=False),
        _when("created_at", nullable=False),
        _when("claimed_at"),
        _when("start_sent_at"),
        _when("started_at"),
        _when("finished_at"),
    )
    op.create_index("ix_farm_job_design_id", "farm_job", ["design_id"])
    op.create_index("ix_farm_job_queue", "farm_job", ["status", "priority", "needed_by"])


def downgrade() -> None:
    op.drop_table("farm_job")
    op.drop_table("farm_design")
    op.drop_table("farm_gcode_blob")
    op.drop_table("farm_printer")
