"""Print farm tables: printers, G-code blobs, designs and print jobs.

A printer stores only a *reference* to its OctoPrint API key (an environment variable name or a
file path), never the key. Its filament lives in the ledger at the location ``printer/<name>``.
A print job is one print of a design (``units_per_print`` frames); it is started at most once per
attempt and its outcome is posted to the ledger once, keyed by (job id, attempt).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, Index, LargeBinary
from sqlmodel import Field, SQLModel

from fabcoord.dbtypes import EnumText

JOB_DOCUMENT = "print_job"
"""The ledger document type of the frames a print job posts (and of the demand it serves)."""


class JobState(StrEnum):
    """Where a print job is. Values are stable: they are stored."""

    QUEUED = "queued"
    STARTING = "starting"  # claimed by a dispatcher, upload/select/start under way
    PRINTING = "printing"  # the printer confirmed it is printing this job
    DONE = "done"
    CANCELLED = "cancelled"
    HELD = "held"  # used up its attempts; back in the queue with ``fabcoord farm retry``

    @property
    def is_active(self) -> bool:
        return self in (JobState.STARTING, JobState.PRINTING)


class FarmPrinter(SQLModel, table=True):
    """An OctoPrint printer of a fablab, and what the dispatchers know about it.

    Attributes:
        api_key_env / api_key_file: where the API key is read from (one of them is set).
        bed_clear: an operator confirmed the bed is empty (or ``auto_clear`` is on).
        loaded_material / loaded_lot: the spool on the printer; grams left = ledger balance of that
            lot at ``printer/<name>``.
        lease_owner / lease_expires_at: the dispatcher driving this printer, until the lease expires.
        current_job_id: the job started on it whose outcome is not recorded yet.
    """

    __tablename__ = "farm_printer"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True)
    fablab_id: int = Field(foreign_key="fablab.id", index=True)
    location_id: int = Field(foreign_key="location.id")
    url: str = Field(max_length=300)
    api_key_env: str = Field(default="", max_length=120)
    api_key_file: str = Field(default="", max_length=500)
    nozzle_um: int = 400
    bed_x_mm: int = 220
    bed_y_mm: int = 220
    enabled: bool = True
    maintenance_note: str = Field(default="", max_length=300)
    auto_clear: bool = False
    bed_clear: bool = True
    cleared_at: datetime | None = None
    loaded_material: str = Field(default="", max_length=64)
    loaded_lot: str = Field(default="", max_length=80)
    removed: bool = False
    state: str = Field(default="unknown", max_length=80)
    reachable: bool = False
    last_seen_at: datetime | None = None
    completion: float | None = None
    time_left_s: int | None = None
    notice: str = Field(default="", max_length=300)
    lease_owner: str = Field(default="", max_length=120)
    lease_expires_at: datetime | None = None
    current_job_id: int | None = None
    created_at: datetime


class GcodeBlob(SQLModel, table=True):
    """A G-code file, stored once by the SHA-256 of its content."""

    __tablename__ = "farm_gcode_blob"

    id: int | None = Field(default=None, primary_key=True)
    sha256: str = Field(max_length=64, unique=True)
    size: int
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime


class Design(SQLModel, table=True):
    """A printable design: one G-code file giving ``units_per_print`` visor frames."""

    __tablename__ = "farm_design"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120, unique=True)
    blob_id: int = Field(foreign_key="farm_gcode_blob.id")
    units_per_print: int
    material: str = Field(max_length=64)
    grams: int
    minutes: int
    created_at: datetime


class PrintJob(SQLModel, table=True):
    """One print of a design. ``attempts`` counts starts; each attempt posts at most once.

    ``retry_base``: ``attempts`` when an operator last retried the held job (the attempt limit
    counts from there).
    """

    __tablename__ = "farm_job"
    __table_args__ = (Index("ix_farm_job_queue", "status", "priority", "needed_by"),)

    id: int | None = Field(default=None, primary_key=True)
    design_id: int = Field(foreign_key="farm_design.id", index=True)
    fablab_id: int | None = Field(default=None, foreign_key="fablab.id")
    order_ref: str = Field(default="", max_length=120)
    priority: int = 0
    needed_by: datetime | None = None
    status: JobState = Field(
        default=JobState.QUEUED, sa_column=Column(EnumText(JobState, 16), nullable=False)
    )
    printer_id: int | None = Field(default=None, foreign_key="farm_printer.id")
    lot: str = Field(default="", max_length=80)
    attempts: int = 0
    retry_base: int = 0
    cancel_requested: bool = False
    last_error: str = Field(default="", max_length=300)
    created_at: datetime
    claimed_at: datetime | None = None
    start_sent_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
