"""Core records the capabilities share: regions, fablabs, hospitals and the reference directories."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel


class Region(SQLModel, table=True):
    """A French region (post-2016 boundaries)."""

    __tablename__ = "region"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=80, unique=True)


class FablabBase(SQLModel):
    name: str = Field(max_length=120)
    city: str = Field(max_length=120)
    contact: str = Field(default="", max_length=200)


class Fablab(FablabBase, table=True):
    """A fablab or maker group that produces and holds stock."""

    __tablename__ = "fablab"

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=120, unique=True)
    region_id: int = Field(foreign_key="region.id")
    created_at: datetime


class FablabPublic(FablabBase):
    slug: str
    region: str
    stock_location: str


class Hospital(SQLModel, table=True):
    """A hospital (CHU/CHR) from the reference list, or added by a coordinator."""

    __tablename__ = "hospital"

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=120, unique=True)
    name: str = Field(max_length=200)
    city: str = Field(max_length=120)
    region_id: int = Field(foreign_key="region.id")
    finess: str = Field(default="", max_length=9)
    address: str = Field(default="", max_length=300)


class Direccte(SQLModel, table=True):
    """A regional DIRECCTE/DIECCTE (2020): the State's regional office for companies and labour."""

    __tablename__ = "direccte"

    id: int | None = Field(default=None, primary_key=True)
    region_id: int = Field(foreign_key="region.id", unique=True)
    name: str = Field(max_length=200)
    seat_city: str = Field(max_length=120)
    sources: str = Field(default="", max_length=2000)


class CompetitivenessCluster(SQLModel, table=True):
    """A pôle de compétitivité (phase IV), a directory of industrial partners and suppliers."""

    __tablename__ = "competitiveness_cluster"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, unique=True)
    regions: str = Field(max_length=300)
    main_domains: str = Field(max_length=500)
    relevant: str = Field(default="", max_length=200)
    label: str = Field(default="", max_length=120)
    notes: str = Field(default="", max_length=1000)
    sources: str = Field(default="", max_length=4000)
