"""Order tables: hospital access links, delivery sites, orders with their lines, and the
append-only order event log."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from fabcoord.dbtypes import EnumText


class OrderStatus(StrEnum):
    """Where an order stands. Values are stable: they are stored and used by scripts."""

    RECEIVED = "received"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    PLANNED = "planned"
    IN_PRODUCTION = "in_production"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


class Priority(StrEnum):
    """How urgent the hospital says the need is."""

    NORMAL = "normal"
    URGENT = "urgent"
    CRITICAL = "critical"


class HospitalLink(SQLModel, table=True):
    """A secret intake link for one hospital; only the SHA-256 of the secret is stored.

    Attributes:
        token_hash: hex SHA-256 of the secret in the link.
        hint: the first characters of the secret's hash, to tell links apart in listings.
        revoked_at: when the link was ended (``None`` while it works).
    """

    __tablename__ = "hospital_link"

    id: int | None = Field(default=None, primary_key=True)
    hospital_id: int = Field(foreign_key="hospital.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    hint: str = Field(max_length=8)
    created_at: datetime
    created_by: str = Field(max_length=120)
    revoked_at: datetime | None = None
    revoked_by: str | None = Field(default=None, max_length=120)
    person_name: str = Field(default="", max_length=120)
    person_email: str = Field(default="", max_length=254)
    expires_at: datetime | None = None
    last_used_at: datetime | None = None


class HospitalSite(SQLModel, table=True):
    """A place a hospital takes deliveries at (one CHU has several).

    Attributes:
        removed_at: when it stopped being offered (orders already delivered there keep it).
        source: where a seeded site comes from (empty when a person entered it).
    """

    __tablename__ = "hospital_site"
    __table_args__ = (Index("ix_hospital_site_hospital_name", "hospital_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    hospital_id: int = Field(foreign_key="hospital.id")
    name: str = Field(max_length=120)
    address: str = Field(max_length=300)
    postal_code: str = Field(default="", max_length=10)
    city: str = Field(default="", max_length=120)
    contact: str = Field(default="", max_length=200)
    source: str = Field(default="", max_length=300)
    created_at: datetime
    created_by: str = Field(max_length=120)
    removed_at: datetime | None = None


class Order(SQLModel, table=True):
    """A hospital's order: one or more lines (:class:`OrderLine`), delivered to one site.

    Attributes:
        reference: human reference ``CMD-2026-000123``.
        purchase_order: the hospital's own purchase-order number (empty when not given).
        item_code, quantity: the first line's model and the total over all lines (kept for
            listings; the lines are the truth).
        delivery_address: the site as a person reads it, at the time of ordering.
        idempotency_key: the client's key (form token or ``Idempotency-Key`` header), unique per
            hospital; ``fingerprint`` is the hash of the content it was first used with.
        allocated: visors the coordinators planned for this order (0 until planned).
        expected_delivery: the date promised once planned.
    """

    __tablename__ = "hospital_order"
    __table_args__ = (
        UniqueConstraint("hospital_id", "idempotency_key", name="uq_hospital_order_idempotency"),
        Index("ix_hospital_order_hospital_created", "hospital_id", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(max_length=40, unique=True)
    hospital_id: int = Field(foreign_key="hospital.id")
    link_id: int | None = Field(default=None, foreign_key="hospital_link.id")
    site_id: int | None = Field(default=None, foreign_key="hospital_site.id")
    purchase_order: str = Field(default="", max_length=60)
    channel: str = Field(max_length=8)
    item_code: str = Field(max_length=64)
    quantity: int
    department: str = Field(max_length=120)
    contact_name: str = Field(max_length=120)
    contact_email: str = Field(max_length=254)
    contact_phone: str = Field(max_length=30)
    needed_by: date
    delivery_address: str = Field(max_length=300)
    priority: Priority = Field(sa_column=Column(EnumText(Priority, 16), nullable=False))
    urgency_reason: str = Field(default="", max_length=500)
    notes: str = Field(default="", max_length=2000)
    status: OrderStatus = Field(
        sa_column=Column(EnumText(OrderStatus, 16), nullable=False, index=True)
    )
    allocated: int = 0
    expected_delivery: date | None = None
    idempotency_key: str | None = Field(default=None, max_length=200)
    fingerprint: str = Field(max_length=64)
    created_at: datetime
    updated_at: datetime


class OrderLine(SQLModel, table=True):
    """One model and quantity of an order; ``line`` counts from 1."""

    __tablename__ = "hospital_order_line"
    __table_args__ = (UniqueConstraint("order_id", "line", name="uq_hospital_order_line"),)

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="hospital_order.id", index=True)
    line: int
    item_code: str = Field(max_length=64)
    quantity: int


class OrderEvent(SQLModel, table=True):
    """One lifecycle step of an order (a transition, or an amendment/re-plan with
    ``from_status == to_status``): who, when, why, through which link. Never updated or deleted.

    Attributes:
        quantity, needed_by, expected_delivery: what the order said once the event was recorded
            (its total quantity, needed-by and promised dates), so that reports can state an order
            as of a past moment; empty on events recorded before they were kept.
    """

    __tablename__ = "hospital_order_event"

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="hospital_order.id", index=True)
    from_status: OrderStatus | None = Field(
        default=None, sa_column=Column(EnumText(OrderStatus, 16), nullable=True)
    )
    to_status: OrderStatus = Field(sa_column=Column(EnumText(OrderStatus, 16), nullable=False))
    actor: str = Field(max_length=120)
    reason: str = Field(default="", max_length=500)
    at: datetime
    link_id: int | None = Field(default=None, foreign_key="hospital_link.id")
    quantity: int | None = None
    needed_by: date | None = None
    expected_delivery: date | None = None
