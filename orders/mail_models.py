"""The e-mail outbox: one row per message to send, written in the transaction of the order change
it tells of, sent later by :mod:`orders.mail_worker`."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

from fabcoord.dbtypes import EnumText


class MailState(StrEnum):
    """Where a message stands. Values are stable: they are stored and shown."""

    PENDING = "pending"  # waiting for its (next) attempt
    SENT = "sent"  # the relay accepted it
    FAILED = "failed"  # the relay refused it for good, or it waited too long: not retried
    DROPPED = "dropped"  # nobody to send it to (no manager address configured)


class Audience(StrEnum):
    """Who a message is for."""

    HOSPITAL = "hospital"  # the hospital's contact for the order (address stored)
    MANAGERS = "managers"  # the managers' addresses of the settings, read when sending


class OrderMail(SQLModel, table=True):
    """One e-mail about an order (plain text, in French).

    Attributes:
        kind: what it tells: ``created``, ``accepted``, ``planned``, ``replanned``, ``shipped``,
            ``delivered`` (to the hospital) or ``new_order`` (to the managers).
        to_address: the recipient (empty for the managers: the settings say who they are).
        attempts, last_error: the tries so far and what the last failed one said.
        next_attempt_at: not tried again before this; ``leased_until``: a worker is sending it.
    """

    __tablename__ = "order_mail"
    __table_args__ = (Index("ix_order_mail_due", "state", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="hospital_order.id", index=True)
    kind: str = Field(max_length=16)
    audience: Audience = Field(sa_column=Column(EnumText(Audience, 16), nullable=False))
    to_address: str = Field(default="", max_length=254)
    subject: str = Field(max_length=200)
    body: str = Field(sa_column=Column(Text, nullable=False))
    state: MailState = Field(sa_column=Column(EnumText(MailState, 16), nullable=False))
    attempts: int = 0
    last_error: str = Field(default="", max_length=1000)
    created_at: datetime
    next_attempt_at: datetime
    leased_until: datetime | None = None
    sent_at: datetime | None = None
