"""Secret intake links: one per person invited, only a hash of the secret is stored.

A link names the person it was given to, may expire, is listed by its hint and revoked alone;
every order and order event records the link that acted."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from fabcoord.errors import InvalidInput, NotFound
from fabcoord.ledger.posting import utc_now
from fabcoord.records import Hospital
from fabcoord.reference import get_hospital
from orders.errors import LinkNotFound
from orders.models import HospitalLink

_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,100}$")
_PERSON = re.compile(r"^\s*(?P<name>[^<>]+?)\s*<(?P<mail>[^<>@\s]+@[^<>@\s]+\.[^<>@\s]+)>\s*$")
_DURATION = re.compile(r"^(?P<n>[1-9][0-9]{0,3})(?P<unit>[dhw])$")
MAX_EXPIRY = timedelta(days=3650)


class UnknownLink(NotFound):
    """No working link has that hint (or the hint matches several)."""


def parse_person(text: str) -> tuple[str, str]:
    """``"Camille Martin <camille@chu.fr>"`` → name and address.

    Raises:
        InvalidInput: not in that form, or too long.
    """
    found = _PERSON.match(text)
    if not found or len(found["name"]) > 120 or len(found["mail"]) > 254:
        raise InvalidInput(f'--for {text[:60]!r} must read like "Camille Martin <camille@chu.fr>"')
    return " ".join(found["name"].split()), found["mail"].lower()


def parse_expiry(text: str) -> timedelta:
    """``90d``, ``12w`` or ``48h``.

    Raises:
        InvalidInput.
    """
    found = _DURATION.match(text.strip())
    if not found:
        raise InvalidInput(
            f"--expires {text[:20]!r} must be a number of days, weeks or hours (90d)"
        )
    days = {"d": 1.0, "w": 7.0, "h": 1 / 24}[found["unit"]] * int(found["n"])
    if timedelta(days=days) > MAX_EXPIRY:
        raise InvalidInput("--expires is at most 3650d")
    return timedelta(days=days)


@dataclass(frozen=True)
class Invitation:
    """A new link; ``token`` is shown once and never stored."""

    hospital: str
    token: str
    hint: str
    person: str = ""
    expires_at: datetime | None = None


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


def invite(
    *,
    session: Session,
    hospital: str,
    actor: str,
    person: str = "",
    expires_in: timedelta | None = None,
) -> Invitation:
    """Issue a new secret link for a person at a hospital of the reference list.

    Args:
        person: ``"Name <address>"`` of whom the link is for (empty: a link for the hospital).
        expires_in: how long it works (``None``: until revoked).

    Raises:
        UnknownHospital, InvalidInput (a person not written as ``Name <address>``).
    """
    name, mail = parse_person(person) if person.strip() else ("", "")
    record = get_hospital(session=session, name=hospital)
    token = secrets.token_urlsafe(32)
    token_hash = hash_token(token)
    now = utc_now()
    expires_at = now + expires_in if expires_in is not None else None
    session.add(
        HospitalLink(
            hospital_id=record.id or 0,
            token_hash=token_hash,
            hint=token_hash[:6],
            created_at=now,
            created_by=actor,
            person_name=name,
            person_email=mail,
            expires_at=expires_at,
        )
    )
    session.flush()
    return Invitation(
        hospital=record.name,
        token=token,
        hint=token_hash[:6],
        person=f"{name} <{mail}>" if name else "",
        expires_at=expires_at,
    )


@dataclass(frozen=True)
class LinkRow:
    """A link as listed (never its secret)."""

    hint: str
    hospital: str
    person: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


def list_links(*, session: Session, hospital: str | None = None) -> list[LinkRow]:
    """Every link (of one hospital, or all), newest first."""
    query = select(HospitalLink, Hospital).join(
        Hospital, col(Hospital.id) == HospitalLink.hospital_id
    )
    if hospital is not None:
        query = query.where(
            HospitalLink.hospital_id == get_hospital(session=session, name=hospital).id
        )
    return [
        LinkRow(
            hint=link.hint,
            hospital=record.name,
            person=f"{link.person_name} <{link.person_email}>" if link.person_name else "",
            created_at=link.created_at,
            last_used_at=link.last_used_at,
            expires_at=link.expires_at,
            revoked_at=link.revoked_at,
        )
        for link, record in session.exec(query.order_by(col(HospitalLink.id).desc()))
    ]


def revoke_link(*, session: Session, hint: str, actor: str) -> LinkRow:
    """End the one working link whose hint starts with ``hint`` (4 characters at least).

    Raises:
        UnknownLink: none, or several, match.
    """
    hint = hint.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{4,8}", hint):
        raise UnknownLink(
            f"link hint {hint[:20]!r}: 4 to 8 characters 0-9a-f (see 'fabcoord hospital links')"
        )
    found = session.exec(
        select(HospitalLink).where(
            col(HospitalLink.hint).startswith(hint), col(HospitalLink.revoked_at).is_(None)
        )
    ).all()
    if len(found) != 1:
        why = "no working link" if not found else f"{len(found)} links"
        raise UnknownLink(f"{why} with hint {hint!r} (see 'fabcoord hospital links')")
    (link,) = found
    link.revoked_at, link.revoked_by = utc_now(), actor
    session.add(link)
    session.flush()
    return next(row for row in list_links(session=session) if row.hint == link.hint)


USED_PRECISION = timedelta(minutes=1)
"""``last_used_at`` is kept to this precision: a link acting again within it writes nothing, so
concurrent orders through one link do not queue on its row's lock until each commits."""


def mark_used(*, session: Session, link_id: int) -> None:
    """Record that a link acted now (called in the acting transaction), to the minute."""
    link = session.get(HospitalLink, link_id)
    if link is None:
        return
    now = utc_now()
    last = link.last_used_at
    if last is not None and last.tzinfo is None:
        last = last.replace(tzinfo=UTC)
    if last is None or now - last >= USED_PRECISION:
        link.last_used_at = now
        session.add(link)


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


# built once: every request authenticates (building and keying a statement costs more than
# running it)
_BY_HASH = (
    select(HospitalLink, Hospital)
    .join(Hospital, col(Hospital.id) == HospitalLink.hospital_id)
    .where(HospitalLink.token_hash == bindparam("token_hash"))
)


def authenticate(*, session: Session, token: str | None) -> Access:
    """The hospital a token opens.

    Raises:
        LinkNotFound: the token is absent, malformed, unknown or revoked (never says which).
    """
    if not token or not _TOKEN.match(token):
        raise LinkNotFound()
    found = session.exec(_BY_HASH, params={"token_hash": hash_token(token)}).first()
    if found is None or found[0].revoked_at is not None:
        raise LinkNotFound()
    expires_at = found[0].expires_at
    if expires_at is not None:
        if expires_at.tzinfo is None:  # SQLite gives naive UTC back
            expires_at = expires_at.replace(tzinfo=UTC)
        if expires_at <= utc_now():
            raise LinkNotFound()
    link, hospital = found
    return Access(
        link_id=link.id or 0,
        hospital_id=hospital.id or 0,
        hospital_name=hospital.name,
        hospital_address=hospital.address,
        token_hash=link.token_hash,
    )


_LOOPBACK = {"localhost", "127.0.0.1", "::1", "[::1]"}


def plain_http_warning(public_url: str) -> str:
    """Why a link on ``public_url`` is unsafe (empty when it is https or on this machine)."""
    scheme, _, rest = public_url.partition("://")
    host = (
        rest.split("/")[0].rsplit(":", 1)[0]
        if not rest.startswith("[")
        else rest.split("]")[0] + "]"
    )
    if scheme.lower() == "https" or host.lower() in _LOOPBACK or host.startswith("127."):
        return ""
    return (
        f"this link uses plain http ({public_url}): anyone on the network path can read the "
        "secret; set FABCOORD_PUBLIC_URL to an https address"
    )
