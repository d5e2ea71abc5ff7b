"""Hand-off tables: partners, hand-offs, the outbox of commands, and what was received.

Served orders are kept as reference text (``CMD-…``) and linked through the core's
``demand_document`` (``handoff``/``<id>``), never by a foreign key into another package's tables.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from fabcoord.dbtypes import EnumText


class HandoffState(StrEnum):
    """Where a hand-off stands. Values are stable: they are stored."""

    DRAFT = "draft"  # recorded, not sent
    QUEUED = "queued"  # a send command waits in the outbox
    SENT = "sent"  # the order is confirmed in the partner's Odoo (or confirmed by hand)
    PARTIAL = "partial"  # some units delivered
    DELIVERED = "delivered"  # everything ordered was delivered
    CANCELLED = "cancelled"  # cancelled (what was delivered before stays in the ledger)
    REFUSED = "refused"  # the partner's Odoo refused it: see last_error


class CommandState(StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


class Partner(SQLModel, table=True):
    """A partner manufacturer reached through its Odoo. The API key is never stored: only the name
    of the environment variable that holds it."""

    __tablename__ = "handoff_partner"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120, unique=True)
    odoo_url: str = Field(max_length=300)
    database: str = Field(max_length=120)
    login: str = Field(max_length=120)
    api_key_env: str = Field(max_length=120)
    protocol: str = Field(max_length=16)
    capacity_per_day: int = 0  # visors a day it declared (0: not a source for the plan)
    minimum_order: int = 0
    lead_time_days: int = 0
    city: str = Field(default="", max_length=120)  # where it ships from (the plan places it)
    region: str = Field(default="", max_length=120)
    timeout_s: float = 30.0
    customer_name: str = Field(default="fabcoord", max_length=120)
    odoo_version: str = Field(default="", max_length=40)
    checked_at: datetime | None = None
    created_at: datetime


class Handoff(SQLModel, table=True):
    """Visors ordered from a partner manufacturer.

    Attributes:
        destination: the location code delivered units are received at (``fablab/<slug>`` or
            ``hospital/<slug>`` when the partner ships to the hospital).
        orders: the order references it serves, comma-separated (also linked in demand_document).
        remote_id, remote_name, remote_state: the sale order in the partner's Odoo.
        manual: placed by hand (no API): ``handoff confirm``/``receive`` record what the partner says.
        delivered: units posted into the ledger so far (sum of the receipts).
        plan_id: the accepted plan that recorded it as a draft (None: made by hand); such a
            draft, never sent or refused by the partner, is replaced when a later plan is
            accepted (a draft cancelled at once, a refused one through the outbox).
        cancel_reason: why it was cancelled, or is being cancelled (a refused one replaced, its
            cancel not carried out yet); empty: not cancelled, or cancelled by hand.
    """

    __tablename__ = "handoff"

    id: int | None = Field(default=None, primary_key=True)
    partner_id: int = Field(foreign_key="handoff_partner.id", index=True)
    item_code: str = Field(max_length=64)
    quantity: int
    needed_by: date
    destination: str = Field(max_length=120)
    orders: str = Field(default="", max_length=2000)
    state: HandoffState = Field(sa_column=Column(EnumText(HandoffState, 16), nullable=False))
    manual: bool = False
    remote_id: int | None = None
    remote_name: str = Field(default="", max_length=80)
    remote_state: str = Field(default="", max_length=24)
    delivered: int = 0
    last_error: str = Field(default="", max_length=1000)
    note: str = Field(default="", max_length=500)
    plan_id: int | None = Field(default=None, index=True)
    cancel_reason: str = Field(default="", max_length=300)
    created_by: str = Field(max_length=120)
    created_at: datetime
    updated_at: datetime
    synced_at: datetime | None = None

    @property
    def ref(self) -> str:
        """Our reference in the partner's Odoo (its sale order's ``client_order_ref``)."""
        return f"FABCOORD-HO-{self.id}"


class HandoffCommand(SQLModel, table=True):
    """An outbox command (``send`` or ``cancel``) a worker carries out, retried with back-off.

    A worker claims a due command by leasing it (``leased_until``) in a short transaction, talks to
    the partner outside any transaction, then records the outcome.
    """

    __tablename__ = "handoff_command"
    __table_args__ = (Index("ix_handoff_command_due", "state", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    handoff_id: int = Field(foreign_key="handoff.id", index=True)
    kind: str = Field(max_length=16)
    state: CommandState = Field(sa_column=Column(EnumText(CommandState, 16), nullable=False))
    attempts: int = 0
    next_attempt_at: datetime
    leased_until: datetime | None = None
    last_error: str = Field(default="", max_length=1000)
    created_at: datetime
    finished_at: datetime | None = None


class HandoffReceipt(SQLModel, table=True):
    """Units of one partner delivery (an Odoo picking, or a receipt recorded by hand) already
    posted into the ledger; a sync posts only what exceeds it, so each unit is posted once."""

    __tablename__ = "handoff_receipt"
    __table_args__ = (UniqueConstraint("handoff_id", "source", name="uq_handoff_receipt"),)

    id: int | None = Field(default=None, primary_key=True)
    handoff_id: int = Field(foreign_key="handoff.id")
    source: str = Field(max_length=80)  # "picking:<id>" or "manual:<n>"
    name: str = Field(default="", max_length=80)
    state: str = Field(default="", max_length=24)
    posted: int = 0
    updated_at: datetime


class HandoffLine(SQLModel, table=True):
    """An order line a hand-off serves and the units of the hand-off that are for it (recorded
    when the hand-off comes from a plan allocation, or is given its lines by hand)."""

    __tablename__ = "handoff_line"
    __table_args__ = (UniqueConstraint("handoff_id", "reference", "line", name="uq_handoff_line"),)

    id: int | None = Field(default=None, primary_key=True)
    handoff_id: int = Field(foreign_key="handoff.id", index=True)
    reference: str = Field(max_length=40)
    line: int
    quantity: int
