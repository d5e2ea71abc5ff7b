"""Secret intake links: one per invitation, only a hash of the secret is stored."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from sqlmodel import Session, col, select

from fabcoord.ledger.posting import utc_now
from fabcoord.records import Hospital
from fabcoord.reference import get_hospital
from orders.errors import LinkNotFound
from orders.models import HospitalLink

_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,100}$")


@dataclass(frozen=True)
class Invitation:
    """A new link; ``token`` is shown once and never stored."""

    hospital: str
    token: str
    hint: str


@dataclass(frozen=True)
class Access:
    """Who a valid token belongs to."""

    link_id: int
    hospital_id: int
    hospital_name: str
    hospital_address: str
    token_hash: str


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invite(*, session: Session, hospital: str, actor: str) -> Invitation:
    """Issue a new secret link for a hospital of the reference list.

    Raises:
        UnknownHospital: no such hospital.
    """
    record = get_hospital(session=session, name=hospital)
    token = secrets.token_urlsafe(32)
    token_hash = hash_token(token)
    session.add(
        HospitalLink(
            hospital_id=record.id or 0,
            token_hash=token_hash,
            hint=token_hash[:6],
            created_at=utc_now(),
            created_by=actor,
        )
    )
    session.flush()
    return Invitation(hospital=record.name, token=token, hint=token_hash[:6])


def revoke(*, session: Session, hospital: str, actor: str) -> int:
    """End every working link of a hospital; return how many were ended."""
    record = get_hospital(session=session, name=hospital)
    links = session.exec(
        select(HospitalLink).where(
            HospitalLink.hospital_id == record.id, col(HospitalLink.revoked_at).is_(None)
        )
    ).all()
    now = utc_now()
    for link in links:
        link.revoked_at, link.revoked_by = now, actor
        session.add(link)
    session.flush()
    return len(links)


def authenticate(*, session: Session, token: str | None) -> Access:
    """The hospital a token opens.

    Raises:
        LinkNotFound: the token is absent, malformed, unknown or revoked (never says which).
    """
    if not token or not _TOKEN.match(token):
        raise LinkNotFound()
    found = session.exec(
        select(HospitalLink, Hospital)
        .join(Hospital, col(Hospital.id) == HospitalLink.hospital_id)
        .where(HospitalLink.token_hash == hash_token(token))
    ).first()
    if found is None or found[0].revoked_at is not None:
        raise LinkNotFound()
    link, hospital = found
    return Access(
        link_id=link.id or 0,
        hospital_id=hospital.id or 0,
        hospital_name=hospital.name,
        hospital_address=hospital.address,
        token_hash=link.token_hash,
    )
