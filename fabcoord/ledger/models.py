"""Ledger tables.

Model choice: **double entry, one signed row per location**. A posting (the business event: a
receipt, a print, a shipment) has two or more :class:`StockMove` legs, each a signed quantity of one
item and lot at one location; the legs of a posting sum to zero for every item and lot. Moving 10
frames from a fablab to a hospital is ``-10 @fablab`` and ``+10 @hospital``. Why rows with a sign
rather than one row with from/to columns: the balance of an item at a location is then a plain
``SUM(qty)`` over one index range, the same query for every location kind, and conservation is
checkable per posting. Goods enter from and leave to *virtual* locations (supplier, production,
partner, inventory adjustment) whose balances may be negative, as in Odoo's virtual locations.

Neither table is ever updated or deleted (database triggers refuse it); a correction is a reversing
posting. :class:`StockBalance` is a cache of ``SUM(qty)`` kept in the same transaction as the moves,
rebuildable from them at any time.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

import fabcoord.records  # noqa: F401  (the fablab and hospital tables locations refer to)
from fabcoord.dbtypes import EnumText


class ItemKind(StrEnum):
    """What an item is in the production chain."""

    MATERIAL = "material"
    PART = "part"
    FINISHED = "finished"


class Unit(StrEnum):
    """Base units: quantities are stored as whole numbers of these."""

    GRAM = "g"
    MILLIMETRE = "mm"
    PIECE = "pcs"
    SHEET = "sheet"


class LocationKind(StrEnum):
    """Where stock can be. Virtual kinds are counterparts whose balance may go negative."""

    STOCK = "stock"
    PRINTER = "printer"
    TRANSIT = "transit"
    HOSPITAL = "hospital"
    SCRAP = "scrap"
    SUPPLIER = "supplier"
    PARTNER = "partner"
    PRODUCTION = "production"
    ADJUSTMENT = "adjustment"

    @property
    def is_virtual(self) -> bool:
        return self in _VIRTUAL_KINDS


_VIRTUAL_KINDS = frozenset(
    {LocationKind.SUPPLIER, LocationKind.PARTNER, LocationKind.PRODUCTION, LocationKind.ADJUSTMENT}
)


class MoveReason(StrEnum):
    """Why a posting happened. Values are stable: they are stored and used by scripts."""

    RECEIPT = "receipt"
    ADJUSTMENT = "adjustment"
    TRANSFER = "transfer"
    PRINT_OUTPUT = "print_output"
    PRINT_SCRAP = "print_scrap"
    ASSEMBLY = "assembly"
    SHIPMENT = "shipment"
    DELIVERY = "delivery"
    HANDOFF = "handoff"
    REVERSAL = "reversal"


class Item(SQLModel, table=True):
    """A material, part or finished product, counted in one base unit.

    Attributes:
        code: stable short name used on the command line (``petg``, ``visor-frame``).
        allow_negative: lets balances of this item go below zero at real locations.
    """

    __tablename__ = "item"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=200)
    kind: ItemKind = Field(sa_column=Column(EnumText(ItemKind, 16), nullable=False))
    unit: Unit = Field(sa_column=Column(EnumText(Unit, 8), nullable=False))
    allow_negative: bool = False


class Location(SQLModel, table=True):
    """A place stock can be: a fablab's shelf, a printer, a hospital, or a virtual counterpart."""

    __tablename__ = "location"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=120, unique=True)
    name: str = Field(max_length=200)
    kind: LocationKind = Field(sa_column=Column(EnumText(LocationKind, 16), nullable=False))
    fablab_id: int | None = Field(default=None, foreign_key="fablab.id", index=True)
    hospital_id: int | None = Field(default=None, foreign_key="hospital.id", index=True)


class Posting(SQLModel, table=True):
    """One business event in the ledger, with its cause. Never updated or deleted.

    Attributes:
        reason: why (stable enum value).
        doc_type, doc_id: the causing document (``receipt``/``BL-2020-118``, ``print_job``/``42``).
        idempotency_key: a caller-chosen key; the same key posts at most once.
        fingerprint: hash of the posting's content, to tell a replay from a conflicting reuse.
        reverses_id: the posting this one cancels, for reversals (at most one per posting).
    """

    __tablename__ = "posting"

    id: int | None = Field(default=None, primary_key=True)
    reason: MoveReason = Field(sa_column=Column(EnumText(MoveReason, 24), nullable=False))
    doc_type: str = Field(max_length=40)
    doc_id: str = Field(max_length=120)
    actor: str = Field(max_length=120)
    posted_at: datetime = Field(index=True)
    idempotency_key: str | None = Field(default=None, max_length=200, unique=True)
    fingerprint: str = Field(max_length=64)
    reverses_id: int | None = Field(default=None, foreign_key="posting.id", unique=True)
    note: str = Field(default="", max_length=500)


# the reports' reads of a period, answered from this index alone (migration issue16_report_0001)
PERIOD_INDEX_COLUMNS = ("posted_at", "location_id", "item_id", "reason", "qty", "posting_id")


class StockMove(SQLModel, table=True):
    """One signed leg of a posting: ``qty`` of an item and lot at one location. Append-only."""

    __tablename__ = "stock_move"
    __table_args__ = (
        Index("ix_stock_move_balance", "item_id", "location_id", "lot", "posted_at"),
        Index("ix_stock_move_document", "doc_type", "doc_id"),
        Index("ix_stock_move_location_time", "location_id", "posted_at"),
        Index("ix_stock_move_period", *PERIOD_INDEX_COLUMNS),
    )

    id: int | None = Field(default=None, primary_key=True)
    posting_id: int = Field(foreign_key="posting.id", index=True)
    item_id: int = Field(foreign_key="item.id")
    location_id: int = Field(foreign_key="location.id")
    lot: str = Field(default="", max_length=80)
    qty: int = Field(sa_column=Column(BigInteger, nullable=False))
    unit: Unit = Field(sa_column=Column(EnumText(Unit, 8), nullable=False))
    reason: MoveReason = Field(sa_column=Column(EnumText(MoveReason, 24), nullable=False))
    doc_type: str = Field(max_length=40)
    doc_id: str = Field(max_length=120)
    posted_at: datetime


class StockBalance(SQLModel, table=True):
    """Cache of ``SUM(stock_move.qty)`` per item, location and lot; rebuildable from the moves."""

    __tablename__ = "stock_balance"
    __table_args__ = (UniqueConstraint("item_id", "location_id", "lot", name="uq_stock_balance"),)

    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="item.id")
    location_id: int = Field(foreign_key="location.id", index=True)
    lot: str = Field(default="", max_length=80)
    qty: int = Field(sa_column=Column(BigInteger, nullable=False))
