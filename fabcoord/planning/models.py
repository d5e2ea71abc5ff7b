"""Planning tables: makers and their deliveries, fablab working hours, and plans (versioned records)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Column, Text
from sqlmodel import Field, SQLModel


class Maker(SQLModel, table=True):
    """Someone printing frames at home (no OctoPrint) for a fablab, who declared a rate."""

    __tablename__ = "maker"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120, unique=True)
    fablab_id: int = Field(foreign_key="fablab.id", index=True)
    declared_per_day: int
    created_at: datetime


class MakerDelivery(SQLModel, table=True):
    """Frames a maker brought to the fablab; posted to the ledger as document ``maker_delivery``/id."""

    __tablename__ = "maker_delivery"

    id: int | None = Field(default=None, primary_key=True)
    maker_id: int = Field(foreign_key="maker.id", index=True)
    frames: int
    reference: str = Field(default="", max_length=40)
    posting_id: int | None = Field(default=None, foreign_key="posting.id")
    delivered_at: datetime


class FablabHours(SQLModel, table=True):
    """A fablab's printing hours per day (10 h when not set)."""

    __tablename__ = "fablab_hours"

    fablab_id: int = Field(foreign_key="fablab.id", primary_key=True)
    hours_per_day: float


class Plan(SQLModel, table=True):
    """One computed plan (its id is its version): the inputs it read, what it decided, and
    whether it was accepted. ``inputs`` and ``result`` are JSON text."""

    __tablename__ = "plan"

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime
    created_by: str = Field(max_length=120)
    today: date
    horizon_days: int
    solver: str = Field(max_length=60)
    cost: int = Field(sa_column=Column(BigInteger, nullable=False))
    fingerprint: str = Field(max_length=64)
    inputs: str = Field(sa_column=Column(Text, nullable=False))
    result: str = Field(sa_column=Column(Text, nullable=False))
    accepted_at: datetime | None = None
    accepted_by: str = Field(default="", max_length=120)
