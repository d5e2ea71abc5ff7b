"""Supplier directory and purchasing tables.

A :class:`Supplier` is one company however many directories list it; each listing is a
:class:`SupplierSource`. What it can supply is :class:`SupplierMaterial` (catalogue item codes found
in its free-text products). A :class:`PurchaseOrder` asks one supplier for one item for one fablab;
each delivery is a :class:`PurchaseReceipt`, the ledger posting that brought the lot in.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import cast

from sqlalchemy import Column, Index, Table, UniqueConstraint
from sqlmodel import Field, SQLModel

import fabcoord.ledger.models
import fabcoord.records  # noqa: F401  (region, fablab tables referred to)
from fabcoord.dbtypes import EnumText


class DirectoryKind(StrEnum):
    """Where a supplier list came from. Values are stored."""

    DIRECCTE = "direccte"
    POLE = "pole"


class Supplier(SQLModel, table=True):
    """A company that can supply raw material. ``name_key`` is the normalised name used to
    de-duplicate listings without a SIRET (with the postal code)."""

    __tablename__ = "supplier"
    __table_args__ = (Index("ix_supplier_name_postal", "name_key", "postal_code"),)

    id: int | None = Field(default=None, primary_key=True)
    siret: str | None = Field(default=None, max_length=14, unique=True)
    name: str = Field(max_length=200)
    name_key: str = Field(max_length=200)
    address: str = Field(default="", max_length=300)
    postal_code: str = Field(default="", max_length=10)
    city: str = Field(default="", max_length=120)
    region_id: int = Field(foreign_key="region.id", index=True)
    contact: str = Field(default="", max_length=300)
    products: str = Field(default="", max_length=2000)
    capacity: str = Field(default="", max_length=200)
    lead_time_days: int | None = None
    created_at: datetime


class SupplierSource(SQLModel, table=True):
    """One directory that lists a supplier (a DIRECCTE's region, or a pôle), with the file and line
    it was first read from."""

    __tablename__ = "supplier_source"
    __table_args__ = (
        UniqueConstraint("supplier_id", "kind", "directory", name="uq_supplier_source"),
    )

    id: int | None = Field(default=None, primary_key=True)
    supplier_id: int = Field(foreign_key="supplier.id", index=True)
    kind: DirectoryKind = Field(sa_column=Column(EnumText(DirectoryKind, 16), nullable=False))
    directory: str = Field(max_length=200)
    file_name: str = Field(max_length=300)
    line: int
    imported_at: datetime


class SupplierMaterial(SQLModel, table=True):
    """A catalogue item a supplier can deliver, and the words of its listing that said so."""

    __tablename__ = "supplier_material"
    __table_args__ = (UniqueConstraint("supplier_id", "item_code", name="uq_supplier_material"),)

    id: int | None = Field(default=None, primary_key=True)
    supplier_id: int = Field(foreign_key="supplier.id")
    item_code: str = Field(max_length=64, index=True)
    keywords: str = Field(max_length=300)


class DirectoryImport(SQLModel, table=True):
    """A directory file imported (by content digest): importing the same file again is a no-op."""

    __tablename__ = "supplier_import"
    __table_args__ = (UniqueConstraint("digest", "kind", "directory", name="uq_supplier_import"),)

    id: int | None = Field(default=None, primary_key=True)
    digest: str = Field(max_length=64)
    kind: DirectoryKind = Field(sa_column=Column(EnumText(DirectoryKind, 16), nullable=False))
    directory: str = Field(max_length=200)
    file_name: str = Field(max_length=300)
    rows: int
    added: int
    merged: int
    imported_at: datetime
    actor: str = Field(max_length=120)


class PurchaseState(StrEnum):
    """Where a purchase order stands. Values are stored."""

    DRAFT = "draft"
    SENT = "sent"
    CONFIRMED = "confirmed"
    PARTLY_RECEIVED = "partly_received"
    RECEIVED = "received"
    CANCELLED = "cancelled"


class PurchaseOrder(SQLModel, table=True):
    """One item ordered from one supplier for one fablab. Quantities in the item's base unit;
    ``unit_price_cents`` is per unit the order was entered in (``price_unit``)."""

    __tablename__ = "purchase_order"
    __table_args__ = (Index("ix_purchase_order_state", "state", "fablab_id"),)

    id: int | None = Field(default=None, primary_key=True)
    supplier_id: int = Field(foreign_key="supplier.id", index=True)
    fablab_id: int = Field(foreign_key="fablab.id")
    item_code: str = Field(max_length=64)
    quantity: int
    received: int = 0
    price_unit: str = Field(default="", max_length=8)
    unit_price_cents: int | None = None
    state: PurchaseState = Field(sa_column=Column(EnumText(PurchaseState, 16), nullable=False))
    expected_on: date | None = None
    note: str = Field(default="", max_length=500)
    created_at: datetime
    updated_at: datetime
    actor: str = Field(max_length=120)


class PurchaseReceipt(SQLModel, table=True):
    """A delivery against a purchase order: the lot and the ledger posting that brought it in."""

    __tablename__ = "purchase_receipt"
    __table_args__ = (Index("ix_purchase_receipt_lot", "lot"),)

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="purchase_order.id", index=True)
    lot: str = Field(max_length=80)
    quantity: int
    posting_id: int = Field(foreign_key="posting.id")
    received_at: datetime
    actor: str = Field(max_length=120)


def table(model: type[SQLModel]) -> Table:
    """The Core table of a model, for bulk statements."""
    return cast(Table, model.__table__)  # type: ignore[attr-defined]
