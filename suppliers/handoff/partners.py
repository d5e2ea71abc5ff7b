"""The partner registry: manufacturers reached through their Odoo.

The API key is never stored, printed or logged: a partner names the environment variable that holds
it (``--api-key-env``), read only when a connection is made.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlmodel import Session, col, select

from fabcoord.clock import utc_now
from fabcoord.errors import AlreadyExists, ConfigError, InvalidInput
from fabcoord.geo import CityTable
from suppliers.handoff.errors import UnknownPartner
from suppliers.handoff.models import Partner

if TYPE_CHECKING:
    from suppliers.handoff.odoo import Endpoint

# The Odoo client (httpx, odoolib: a tenth of a second to import) is imported where a partner's
# address is checked or its Odoo reached, not by every reader of the registry (the planner).

WANTED_MODELS = ("res.partner", "product.product", "sale.order", "stock.picking", "mrp.production")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,119}$")


@dataclass(frozen=True)
class CheckReport:
    """What ``partners check`` learnt: the server's version and which models it has."""

    partner: str
    version: str
    models: dict[str, bool]


def add_partner(
    *,
    session: Session,
    name: str,
    odoo_url: str,
    database: str,
    login: str,
    api_key_env: str,
    protocol: str = "jsonrpc",
    capacity_per_day: int = 0,
    minimum_order: int = 0,
    lead_time_days: int = 0,
    timeout_s: float = 30.0,
    customer_name: str = "fabcoord",
    city: str = "",
    region: str = "",
    cities: CityTable | None = None,
) -> Partner:
    """Register a partner manufacturer.

    Args:
        capacity_per_day: visors a day it declared; with a ``city`` it is a source of the plan.
        cities: the core's city table, to check ``city`` against (it must be there to be placed).

    Raises:
        InvalidInput: a bad address, protocol, variable name, number or city; AlreadyExists.
    """
    name = " ".join(name.split())
    if not name or len(name) > 120:
        raise InvalidInput("a partner needs a name of 1 to 120 characters")
    from suppliers.handoff.odoo import PROTOCOLS, parse_url

    parse_url(odoo_url)
    if protocol not in PROTOCOLS:
        raise InvalidInput(f"--protocol {protocol!r} is not one of: {', '.join(PROTOCOLS)}")
    if not _ENV_NAME.match(api_key_env):
        raise InvalidInput(
            f"--api-key-env {api_key_env!r} must be the NAME of an environment variable "
            "(the key itself is never given on the command line)"
        )
    for label, value in (("--database", database), ("--login", login)):
        if not value.strip() or len(value) > 120:
            raise InvalidInput(f"{label} must be 1 to 120 characters")
    _check_numbers(
        capacity_per_day=capacity_per_day,
        minimum_order=minimum_order,
        lead_time_days=lead_time_days,
    )
    city, region = _check_place(city, region, cities)
    if not 0 < timeout_s <= 600:
        raise InvalidInput("timeout must be between 0 and 600 seconds")
    if session.exec(select(Partner).where(Partner.name == name)).first() is not None:
        raise AlreadyExists(f"partner {name!r} exists already")
    partner = Partner(
        name=name,
        odoo_url=odoo_url.strip().rstrip("/"),
        database=database.strip(),
        login=login.strip(),
        api_key_env=api_key_env,
        protocol=protocol,
        capacity_per_day=capacity_per_day,
        minimum_order=minimum_order,
        lead_time_days=lead_time_days,
        timeout_s=timeout_s,
        customer_name=customer_name.strip() or "fabcoord",
        city=city,
        region=region,
        created_at=utc_now(),
    )
    session.add(partner)
    session.flush()
    return partner


def update_partner(
    *,
    session: Session,
    name: str,
    capacity_per_day: int | None = None,
    minimum_order: int | None = None,
    lead_time_days: int | None = None,
    city: str | None = None,
    region: str | None = None,
    cities: CityTable | None = None,
    clear_city: bool = False,
    clear_region: bool = False,
) -> Partner:
    """Change what the plan reads of a partner: capacity, minimum order, lead time, city.

    Everything is checked before anything is written.

    Args:
        clear_city: forget its city and region (the plan then leaves it out, with a note).
        clear_region: forget its region only (the city alone places it).

    Raises:
        UnknownPartner; InvalidInput: a number out of range, a city not in the city table, a
        place both set and cleared.
    """
    partner = get_partner(session=session, name=name)
    if clear_city and (city is not None or region is not None):
        raise InvalidInput("--clear-city forgets the city and region: give no --city or --region")
    if clear_region and region is not None:
        raise InvalidInput("--clear-region forgets the region: give no --region")
    if clear_city:
        city, region = "", ""
    elif clear_region:
        region = ""
    _check_numbers(
        capacity_per_day=partner.capacity_per_day if capacity_per_day is None else capacity_per_day,
        minimum_order=partner.minimum_order if minimum_order is None else minimum_order,
        lead_time_days=partner.lead_time_days if lead_time_days is None else lead_time_days,
    )
    if city is not None or region is not None:
        city, region = _check_place(
            partner.city if city is None else city,
            partner.region if region is None else region,
            cities,
        )
        partner.city, partner.region = city, region
    if capacity_per_day is not None:
        partner.capacity_per_day = capacity_per_day
    if minimum_order is not None:
        partner.minimum_order = minimum_order
    if lead_time_days is not None:
        partner.lead_time_days = lead_time_days
    session.add(partner)
    session.flush()
    return partner


def _check_numbers(*, capacity_per_day: int, minimum_order: int, lead_time_days: int) -> None:
    for label, number, most in (
        ("--visors-per-day", capacity_per_day, 10_000_000),
        ("--minimum-order", minimum_order, 10_000_000),
        ("--lead-time-days", lead_time_days, 365),
    ):
        if isinstance(number, bool) or not 0 <= number <= most:
            raise InvalidInput(f"{label} must be a whole number from 0 to {most:,}, got {number}")


def _check_place(city: str, region: str, cities: CityTable | None) -> tuple[str, str]:
    """The city and region cleaned; the city must be in the city table (when one is given)."""
    city, region = " ".join(city.split()), " ".join(region.split())
    if len(city) > 120 or len(region) > 120:
        raise InvalidInput("--city and --region take at most 120 characters")
    if region and not city:
        raise InvalidInput("--region needs --city")
    if city and cities is not None:
        cities.locate(city, region)  # raises UnknownCity, naming the table to add it to
    return city, region


def list_partners(*, session: Session) -> list[Partner]:
    return list(session.exec(select(Partner).order_by(col(Partner.name))))


def get_partner(*, session: Session, name: str) -> Partner:
    """Raises UnknownPartner (naming the known ones)."""
    found = session.exec(select(Partner).where(Partner.name == " ".join(name.split()))).first()
    if found is None:
        known = ", ".join(p.name for p in list_partners(session=session)) or "none registered"
        raise UnknownPartner(f"unknown partner {name!r} (known: {known})")
    return found


def endpoint_of(partner: Partner, environ: Mapping[str, str]) -> Endpoint:
    """The connection details of a partner, its API key read from the environment.

    Raises:
        ConfigError: the variable holding the key is not set.
    """
    key = environ.get(partner.api_key_env, "")
    if not key:
        raise ConfigError(
            f"environment variable {partner.api_key_env} (the API key of partner "
            f"{partner.name}) is not set"
        )
    from suppliers.handoff.odoo import Endpoint

    return Endpoint(
        url=partner.odoo_url,
        database=partner.database,
        login=partner.login,
        api_key=key,
        protocol=partner.protocol,
        timeout_s=partner.timeout_s,
        name=partner.name,
    )


def check(endpoint: Endpoint) -> CheckReport:
    """Log in to the partner's Odoo; report its version and which models it has.

    Raises:
        PartnerAuthFailed, PartnerRefused (wrong database, not an Odoo), PartnerUnavailable.
    """
    from suppliers.handoff.odoo import Client

    with Client(endpoint) as client:
        version = client.version()
        client.login()
        rows = client.call(
            "ir.model",
            "search_read",
            [[("model", "in", list(WANTED_MODELS))]],
            {"fields": ["model"]},
        )
    rows = [rows] if isinstance(rows, dict) else rows
    present = {str(row["model"]) for row in rows}
    return CheckReport(endpoint.name, version, {m: m in present for m in WANTED_MODELS})


def record_check(*, session: Session, name: str, report: CheckReport) -> None:
    partner = get_partner(session=session, name=name)
    partner.odoo_version, partner.checked_at = report.version, utc_now()
    session.add(partner)
    session.flush()
