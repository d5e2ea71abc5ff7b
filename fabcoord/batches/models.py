"""Tables of batches, the frame sources behind them, their inspections, and shipments."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

import fabcoord.records  # noqa: F401  (the fablab table batches refer to)
from fabcoord.dbtypes import EnumText


class BatchState(StrEnum):
    """Where a batch stands. Values are stable: they are stored."""

    ASSEMBLED = "assembled"  # waiting for its inspection
    RELEASED = "released"  # passed: may be shipped
    QUARANTINED = "quarantined"  # failed: held apart, may be inspected again
    SCRAPPED = "scrapped"
    RECALLED = "recalled"  # never ships again


class Batch(SQLModel, table=True):
    """Visors assembled together, numbered ``LOT-YYYY-NNNN`` (their lot in the ledger)."""

    __tablename__ = "batch"

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=40, unique=True)
    fablab_id: int = Field(foreign_key="fablab.id", index=True)
    design: str = Field(default="", max_length=80)
    quantity: int
    state: BatchState = Field(sa_column=Column(EnumText(BatchState, 16), nullable=False))
    assembled_by: str = Field(max_length=120)
    assembled_at: datetime
    posting_id: int = Field(foreign_key="posting.id")
    released_by: str = Field(default="", max_length=120)
    released_at: datetime | None = None
    recall_reason: str = Field(default="", max_length=500)


class BatchSource(SQLModel, table=True):
    """The ledger document that brought frames used by a batch (``print_job``/``42``…)."""

    __tablename__ = "batch_source"

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="batch.id", index=True)
    doc_type: str = Field(max_length=40)
    doc_id: str = Field(max_length=120)
    posting_id: int = Field(foreign_key="posting.id")
    frames: int


class Inspection(SQLModel, table=True):
    """One filled checklist of a batch: ``results`` is JSON ``{check: true|false}``."""

    __tablename__ = "inspection"

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="batch.id", index=True)
    inspector: str = Field(max_length=120)
    inspected_at: datetime
    sample_size: int
    results: str = Field(sa_column=Column(Text, nullable=False))
    passed: bool
    cleaning_product: str = Field(default="", max_length=200)
    cleaning_date: date | None = None
    note: str = Field(default="", max_length=500)


class ShipmentState(StrEnum):
    """Values are stable: they are stored."""

    SHIPPED = "shipped"
    RECEIVED = "received"  # the receipt is recorded (all, part or none accepted)


class Shipment(SQLModel, table=True):
    """Visors of one batch sent to one order line (``shipment``/``SHP-YYYY-NNNN``)."""

    __tablename__ = "shipment"

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=40, unique=True)
    reference: str = Field(max_length=40, index=True)
    line: int
    batch_id: int = Field(foreign_key="batch.id", index=True)
    quantity: int
    carrier: str = Field(default="", max_length=120)
    state: ShipmentState = Field(sa_column=Column(EnumText(ShipmentState, 16), nullable=False))
    shipped_by: str = Field(max_length=120)
    shipped_at: datetime
    received: int | None = None
    refused: int | None = None
    refusal_reason: str = Field(default="", max_length=500)
    signed_by: str = Field(default="", max_length=120)
    confirmed_at: datetime | None = None
