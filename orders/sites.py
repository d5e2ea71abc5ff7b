"""A hospital's delivery sites: managed by coordinators, offered on the form, one per order."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from fabcoord.clock import utc_now
from fabcoord.errors import InvalidInput, NotFound
from fabcoord.reference import get_hospital
from orders.models import HospitalSite
from orders.schemas import SitePublic

_POSTAL = re.compile(r"\b(\d{5})\s+([^,\n]+?)\s*$")


class UnknownSite(NotFound):
    """No working site of this hospital has that name or number."""


def label(site: HospitalSite) -> str:
    """The site as a person reads it on one line."""
    place = " ".join(part for part in (site.postal_code, site.city) if part)
    parts = [] if site.address.startswith(site.name) else [site.name]
    parts.append(site.address)
    if place and place not in site.address:
        parts.append(place)
    return ", ".join(" ".join(p.split()) for p in parts)[:300]


def public(site: HospitalSite) -> SitePublic:
    return SitePublic(
        id=site.id or 0,
        name=site.name,
        address=site.address,
        postal_code=site.postal_code,
        city=site.city,
        contact=site.contact,
    )


def sites_of(*, session: Session, hospital_id: int) -> list[HospitalSite]:
    """A hospital's working sites, by name."""
    return list(
        session.exec(
            select(HospitalSite)
            .where(HospitalSite.hospital_id == hospital_id, col(HospitalSite.removed_at).is_(None))
            .order_by(col(HospitalSite.name), col(HospitalSite.id))
        )
    )


def add_site(
    *,
    session: Session,
    hospital: str,
    name: str,
    address: str,
    postal_code: str = "",
    city: str = "",
    contact: str = "",
    source: str = "",
    actor: str,
) -> HospitalSite:
    """Add a delivery site to a hospital of the reference list.

    Raises:
        UnknownHospital, InvalidInput (empty or too long fields, a name already in use).
    """
    record = get_hospital(session=session, name=hospital)
    name, address = " ".join(name.split()), address.strip()
    postal_code, city, contact = postal_code.strip(), " ".join(city.split()), contact.strip()
    for field, value, limit in (
        ("name", name, 120),
        ("address", address, 300),
        ("postal code", postal_code, 10),
        ("city", city, 120),
        ("contact", contact, 200),
    ):
        if len(value) > limit:
            raise InvalidInput(f"the site's {field} is too long ({limit} characters at most)")
    if not name or not address:
        raise InvalidInput("a site needs a name and an address")
    if postal_code and not re.fullmatch(r"\d{5}", postal_code):
        raise InvalidInput(f"postal code {postal_code!r} is not 5 digits")
    taken = {s.name.casefold() for s in sites_of(session=session, hospital_id=record.id or 0)}
    if name.casefold() in taken:
        raise InvalidInput(f"{record.name} already has a site named {name!r}")
    site = HospitalSite(
        hospital_id=record.id or 0,
        name=name,
        address=address,
        postal_code=postal_code,
        city=city,
        contact=contact,
        source=source,
        created_at=utc_now(),
        created_by=actor,
    )
    session.add(site)
    session.flush()
    return site


def remove_site(*, session: Session, hospital: str, site: str) -> HospitalSite:
    """Stop offering a site (by number or name); orders already placed keep it.

    Raises:
        UnknownHospital, UnknownSite.
    """
    record = get_hospital(session=session, name=hospital)
    found = find_site(session=session, hospital_id=record.id or 0, site=site)
    found.removed_at = utc_now()
    session.add(found)
    session.flush()
    return found


def find_site(*, session: Session, hospital_id: int, site: str | int) -> HospitalSite:
    """One working site of a hospital, by number or (case-insensitive) name.

    Raises:
        UnknownSite.
    """
    for candidate in sites_of(session=session, hospital_id=hospital_id):
        if (
            str(candidate.id) == str(site).strip()
            or candidate.name.casefold() == str(site).strip().casefold()
        ):
            return candidate
    raise UnknownSite(f"unknown site {str(site)[:60]!r} (see 'fabcoord hospital site list')")


# the first working site (by name) at an address; built once, as every order asks it
_AT_ADDRESS = (
    select(HospitalSite)
    .where(
        HospitalSite.hospital_id == bindparam("hospital_id"),
        col(HospitalSite.removed_at).is_(None),
        HospitalSite.address == bindparam("address"),
    )
    .order_by(col(HospitalSite.name), col(HospitalSite.id))
    .limit(1)
)


def site_at(*, session: Session, hospital_id: int, address: str) -> HospitalSite | None:
    """The hospital's working site at exactly this address (the first by name), if any."""
    return session.exec(
        _AT_ADDRESS, params={"hospital_id": hospital_id, "address": address.strip()}
    ).first()


def site_for_address(
    *, session: Session, hospital_id: int, address: str, actor: str
) -> HospitalSite:
    """The hospital's site at this address, created from it when there is none yet."""
    existing = site_at(session=session, hospital_id=hospital_id, address=address)
    if existing is not None:
        return existing
    return new_site_at(session=session, hospital_id=hospital_id, address=address, actor=actor)


def new_site_at(*, session: Session, hospital_id: int, address: str, actor: str) -> HospitalSite:
    """A new site of the hospital made from an address (name: its first part)."""
    text = address.strip()
    first = text.replace("\n", ",").split(",")[0].strip()[:120] or "Adresse de livraison"
    found = _POSTAL.search(text)
    site = HospitalSite(
        hospital_id=hospital_id,
        name=first,
        address=text,
        postal_code=found.group(1) if found else "",
        city=found.group(2).strip()[:120] if found else "",
        created_at=utc_now(),
        created_by=actor,
    )
    session.add(site)
    session.flush()
    return site


SEED_FILE = "chu_sites.csv"


def seed_sites(*, session: Session, data_dir: Path, actor: str) -> int:
    """Add the sites of ``data_dir/chu_sites.csv`` (each with its source) that are missing;
    return how many were added. Harmless when run again."""
    path = data_dir / SEED_FILE
    if not path.exists():
        return 0
    added = 0
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            hospital = get_hospital(session=session, name=row["hospital"])
            names = {s.name for s in sites_of(session=session, hospital_id=hospital.id or 0)}
            if row["name"] in names:
                continue
            add_site(
                session=session,
                hospital=hospital.name,
                name=row["name"],
                address=row["address"],
                postal_code=row["postal_code"],
                city=row["city"],
                source=row["source"],
                actor=actor,
            )
            added += 1
    return added
