"""Fablabs: each has a stock location ``fablab/<slug>`` where its parts and materials are kept."""

from __future__ import annotations

import re
import unicodedata

from sqlmodel import Session, col, select

from fabcoord.clock import utc_now
from fabcoord.errors import AlreadyExists, InvalidInput, UnknownFablab
from fabcoord.ledger.catalogue import add_location
from fabcoord.ledger.models import LocationKind
from fabcoord.records import Fablab, FablabPublic, Region


def slugify(text: str) -> str:
    """``"CHU de Saint-Étienne"`` → ``"chu-de-saint-etienne"``."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


STOCK_PREFIX = "fablab/"  # a fablab's stock location: its slug after this prefix


def stock_location_code(slug: str) -> str:
    return f"{STOCK_PREFIX}{slug}"


def get_region(*, session: Session, name: str) -> Region:
    """Find a region by name, ignoring case and accents."""
    wanted = slugify(name)
    for region in session.exec(select(Region)):
        if slugify(region.name) == wanted:
            return region
    known = ", ".join(r.name for r in session.exec(select(Region).order_by(col(Region.name))))
    hint = known or "none loaded: run 'fabcoord reference load'"
    raise InvalidInput(f"unknown region {name!r} (known: {hint})")


def add_fablab(
    *, session: Session, name: str, city: str, region: str, contact: str = ""
) -> FablabPublic:
    """Register a fablab and create its stock location."""
    name, city = name.strip(), city.strip()
    if not name or len(name) > 120:
        raise InvalidInput("fablab name must be 1 to 120 characters")
    if not city or len(city) > 120:
        raise InvalidInput("city must be 1 to 120 characters")
    if len(contact) > 200:
        raise InvalidInput("contact must be at most 200 characters")
    slug = slugify(name)
    if not slug:
        raise InvalidInput(f"fablab name {name!r} needs at least one letter or digit")
    if session.exec(select(Fablab).where(Fablab.slug == slug)).first() is not None:
        raise AlreadyExists(f"fablab {name!r} exists already (as {slug})")
    region_row = get_region(session=session, name=region)
    assert region_row.id is not None
    fablab = Fablab(
        name=name,
        slug=slug,
        city=city,
        region_id=region_row.id,
        contact=contact.strip(),
        created_at=utc_now(),
    )
    session.add(fablab)
    session.flush()
    add_location(
        session=session,
        code=stock_location_code(slug),
        name=f"{name} stock",
        kind=LocationKind.STOCK,
        fablab_id=fablab.id,
    )
    return _public(fablab, region_row.name)


def get_fablab(*, session: Session, name: str) -> Fablab:
    slug = slugify(name)
    fablab = session.exec(select(Fablab).where(Fablab.slug == slug)).first()
    if fablab is None:
        raise UnknownFablab(f"unknown fablab {name!r} (see 'fabcoord fablab list')")
    return fablab


def list_fablabs(*, session: Session, region: str | None = None) -> list[FablabPublic]:
    query = select(Fablab, Region.name).join(Region).order_by(col(Fablab.slug))
    if region is not None:
        query = query.where(Fablab.region_id == get_region(session=session, name=region).id)
    return [_public(fablab, region_name) for fablab, region_name in session.exec(query)]


def _public(fablab: Fablab, region: str) -> FablabPublic:
    return FablabPublic(
        name=fablab.name,
        slug=fablab.slug,
        city=fablab.city,
        contact=fablab.contact,
        region=region,
        stock_location=stock_location_code(fablab.slug),
    )
