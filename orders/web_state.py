"""What the web server's processes share through the database (PostgreSQL, several workers or
machines): rate-limit buckets and the key that signs the forms when none is configured."""

from __future__ import annotations

from sqlmodel import Field, SQLModel


class RateBucket(SQLModel, table=True):
    """One rate-limit key's bucket (GCRA): ``tat`` is the theoretical arrival time (Unix
    seconds) of its next request; ``ok`` whether the last hit was allowed. Rows are a cache:
    idle ones are deleted, losing one only forgets a past burst."""

    __tablename__ = "web_rate_bucket"

    key: str = Field(primary_key=True, max_length=80)
    tat: float
    ok: bool


class WebSecret(SQLModel, table=True):
    """A secret drawn once and shared by every web worker (``name``: what it is for)."""

    __tablename__ = "web_secret"

    name: str = Field(primary_key=True, max_length=40)
    value: str = Field(max_length=200)
