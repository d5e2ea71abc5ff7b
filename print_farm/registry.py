"""The printer registry: OctoPrint printers of the fablabs and the settings the dispatcher reads.

A printer's API key is never stored: only the name of an environment variable or the path of a file
holding it, read when a dispatcher connects (:func:`read_api_key`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from sqlmodel import Session, col, select

from fabcoord import fablabs
from fabcoord.errors import AlreadyExists, InvalidInput
from fabcoord.ledger import catalogue
from fabcoord.ledger.models import LocationKind
from fabcoord.ledger.posting import utc_now
from fabcoord.records import Fablab
from print_farm.errors import ApiKeyUnavailable, PrinterInUse, UnknownPrinter
from print_farm.models import FarmPrinter

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
ENV_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,119}$")


@dataclass(frozen=True)
class PrinterSpec:
    """What an operator gives to register a printer (validated by :func:`add_printer`)."""

    name: str
    fablab: str
    url: str
    api_key_env: str = ""
    api_key_file: str = ""
    nozzle_mm: float = 0.4
    bed_x_mm: int = 220
    bed_y_mm: int = 220
    auto_clear: bool = False


@dataclass(frozen=True)
class PrinterPublic:
    """A printer as shown to people and scripts: never the key, only where it is read from."""

    name: str
    fablab: str
    url: str
    api_key_source: str
    location: str
    nozzle_mm: float
    bed_mm: str
    enabled: bool
    maintenance: str
    auto_clear: bool
    bed_clear: bool
    material: str
    lot: str
    grams_left: int
    state: str
    reachable: bool
    completion: float | None
    time_left_s: int | None
    job_id: int | None
    notice: str
    last_seen_at: datetime | None


def location_code(name: str) -> str:
    return f"printer/{name}"


def clean_name(name: str) -> str:
    cleaned = name.strip().lower()
    if not NAME_PATTERN.match(cleaned):
        raise InvalidInput(
            f"printer name {name!r} must be 1 to 64 letters, digits, '.', '_' or '-'"
        )
    return cleaned


def clean_url(url: str) -> str:
    cleaned = url.strip().rstrip("/")
    parts = urlsplit(cleaned)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"printer URL {url!r} must look like http://host:port")
    if parts.username or parts.password or parts.query or parts.fragment:
        # a key in the URL (?apikey=…, user:password@) would be stored and shown: refuse it
        raise InvalidInput(
            "printer URL must not carry credentials or a query: give the key with "
            "--api-key-env or --api-key-file"
        )
    try:
        _ = parts.port
    except ValueError:
        raise InvalidInput(f"printer URL {url!r} has an invalid port") from None
    return cleaned


def checked_spec(spec: PrinterSpec) -> PrinterSpec:
    """The spec with name, URL and key source cleaned (no database, no network).

    Raises:
        InvalidInput.
    """
    name, url = clean_name(spec.name), clean_url(spec.url)
    env, key_file = spec.api_key_env.strip(), spec.api_key_file.strip()
    if bool(env) == bool(key_file):
        raise InvalidInput("give exactly one of --api-key-env VAR or --api-key-file PATH")
    if env and not ENV_PATTERN.match(env):
        raise InvalidInput(f"--api-key-env {env!r} is not an environment variable name")
    if not 0.1 <= spec.nozzle_mm <= 2.0:
        raise InvalidInput(f"nozzle {spec.nozzle_mm} mm is not between 0.1 and 2.0 mm")
    if not (50 <= spec.bed_x_mm <= 2000 and 50 <= spec.bed_y_mm <= 2000):
        raise InvalidInput("bed size must be between 50 and 2000 mm on each side")
    return replace(spec, name=name, url=url, api_key_env=env, api_key_file=key_file)


def spec_api_key(spec: PrinterSpec) -> str:
    """The API key a (checked) spec points to, to check it with OctoPrint before registering.

    Raises:
        ApiKeyUnavailable.
    """
    return read_key(env=spec.api_key_env, path=spec.api_key_file, owner=spec.name)


def check_can_add(*, session: Session, spec: PrinterSpec) -> None:
    """Refuse early (read only) what :func:`add_printer` would refuse: unknown fablab, taken name.

    Raises:
        UnknownFablab, AlreadyExists.
    """
    fablabs.get_fablab(session=session, name=spec.fablab)
    existing = session.exec(select(FarmPrinter).where(FarmPrinter.name == spec.name)).first()
    if existing is not None and not existing.removed:
        raise AlreadyExists(f"printer {spec.name!r} exists already")


def add_printer(*, session: Session, spec: PrinterSpec) -> FarmPrinter:
    """Register a printer (or bring back a removed one of that name) and its ledger location.

    Raises:
        InvalidInput, AlreadyExists, UnknownFablab.
    """
    spec = checked_spec(spec)
    name, url = spec.name, spec.url
    env, key_file = spec.api_key_env, spec.api_key_file
    fablab = fablabs.get_fablab(session=session, name=spec.fablab)
    assert fablab.id is not None
    check_can_add(session=session, spec=spec)
    printer = session.exec(select(FarmPrinter).where(FarmPrinter.name == name)).first()
    if printer is None:
        location = catalogue.add_location(
            session=session,
            code=location_code(name),
            name=f"printer {name}",
            kind=LocationKind.PRINTER,
            fablab_id=fablab.id,
        )
        assert location.id is not None
        printer = FarmPrinter(
            name=name, fablab_id=fablab.id, location_id=location.id, url=url, created_at=utc_now()
        )
    printer.fablab_id, printer.url, printer.removed = fablab.id, url, False
    printer.api_key_env, printer.api_key_file = env, key_file
    printer.nozzle_um = round(spec.nozzle_mm * 1000)
    printer.bed_x_mm, printer.bed_y_mm = spec.bed_x_mm, spec.bed_y_mm
    printer.auto_clear, printer.bed_clear, printer.enabled = spec.auto_clear, True, True
    session.add(printer)
    session.flush()
    return printer


def get_printer(*, session: Session, name: str, lock: bool = False) -> FarmPrinter:
    query = select(FarmPrinter).where(
        FarmPrinter.name == name.strip().lower(), col(FarmPrinter.removed).is_(False)
    )
    if lock:
        query = query.with_for_update()
    printer = session.exec(query).first()
    if printer is None:
        raise UnknownPrinter(f"unknown printer {name!r} (see 'fabcoord printers list')")
    return printer


def list_printers(*, session: Session, fablab: str | None = None) -> list[FarmPrinter]:
    query = select(FarmPrinter).where(col(FarmPrinter.removed).is_(False))
    if fablab is not None:
        query = query.where(
            FarmPrinter.fablab_id == fablabs.get_fablab(session=session, name=fablab).id
        )
    return list(session.exec(query.order_by(col(FarmPrinter.name))))


def remove_printer(*, session: Session, name: str) -> FarmPrinter:
    """Take a printer out of the farm; refused while it holds a job or a loaded spool."""
    printer = get_printer(session=session, name=name, lock=True)
    require_idle(printer, "remove")
    if printer.loaded_lot or printer.loaded_material:
        raise PrinterInUse(
            f"printer {printer.name} still has {printer.loaded_material} lot {printer.loaded_lot} "
            f"loaded: run 'fabcoord printers unload {printer.name}' first"
        )
    printer.removed, printer.enabled = True, False
    printer.lease_owner, printer.lease_expires_at = "", None
    session.add(printer)
    return printer


def set_enabled(
    *, session: Session, name: str, enabled: bool, maintenance: str = ""
) -> FarmPrinter:
    """Enable a printer, or disable it (optionally with a maintenance note)."""
    printer = get_printer(session=session, name=name, lock=True)
    if len(maintenance) > 300:
        raise InvalidInput("the maintenance note must be at most 300 characters")
    printer.enabled = enabled
    printer.maintenance_note = "" if enabled else maintenance.strip()
    session.add(printer)
    return printer


def clear_bed(*, session: Session, name: str) -> FarmPrinter:
    """Record that an operator removed the parts: the printer may take the next job.

    Raises:
        PrinterInUse: the printer is starting or printing a job.
    """
    printer = get_printer(session=session, name=name, lock=True)
    require_idle(printer, "clear")
    printer.bed_clear, printer.cleared_at, printer.notice = True, utc_now(), ""
    session.add(printer)
    return printer


def require_idle(printer: FarmPrinter, action: str) -> None:
    """Refuse ``action`` while the printer holds a job or reports a print under way."""
    # "Finishing" is not busy: OctoPrint reports PrintDone while still finishing
    busy_states = ("Printing", "Starting", "Pausing", "Paused", "Resuming")
    if printer.current_job_id is not None or printer.state.startswith(busy_states):
        job = f" job {printer.current_job_id}" if printer.current_job_id is not None else ""
        raise PrinterInUse(
            f"cannot {action} printer {printer.name}: it is printing{job} ({printer.state})"
        )


def read_api_key(printer: FarmPrinter, environ: Mapping[str, str] | None = None) -> str:
    """Read the printer's API key from its environment variable or file.

    Raises:
        ApiKeyUnavailable: the variable is unset or the file unreadable or empty (the message names
            the variable or file, never a key).
    """
    return read_key(
        env=printer.api_key_env, path=printer.api_key_file, owner=printer.name, environ=environ
    )


def read_key(*, env: str, path: str, owner: str, environ: Mapping[str, str] | None = None) -> str:
    """The API key held in environment variable ``env`` or in the file at ``path``."""
    if env:
        value = (os.environ if environ is None else environ).get(env, "").strip()
        if not value:
            raise ApiKeyUnavailable(f"printer {owner}: environment variable {env} is not set")
        return value
    try:
        value = Path(path).expanduser().read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as error:
        raise ApiKeyUnavailable(
            f"printer {owner}: cannot read API key file {path} ({type(error).__name__})"
        ) from None
    if not value:
        raise ApiKeyUnavailable(f"printer {owner}: API key file {path} is empty")
    return value


def api_key_source(printer: FarmPrinter) -> str:
    return f"env:{printer.api_key_env}" if printer.api_key_env else f"file:{printer.api_key_file}"


def fablab_of(*, session: Session, printer: FarmPrinter) -> Fablab:
    fablab = session.get(Fablab, printer.fablab_id)
    assert fablab is not None
    return fablab
