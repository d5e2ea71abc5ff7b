"""Filament on the printers: loading and unloading spools, and the grams left in the loaded lot.

Loading moves grams of one lot from the fablab's stock to ``printer/<name>`` in the ledger; the
grams left on the printer are that lot's balance there, lowered by every print's posting.
"""

from __future__ import annotations

from typing import Protocol

from sqlmodel import Session

from fabcoord import fablabs
from fabcoord.errors import InvalidInput
from fabcoord.ledger import balances, catalogue
from fabcoord.ledger.models import ItemKind, MoveReason, Unit
from fabcoord.ledger.posting import PostingRequest, post, transfer, utc_now
from print_farm.models import FarmPrinter
from print_farm.registry import (
    PrinterPublic,
    api_key_source,
    fablab_of,
    get_printer,
    location_code,
    require_idle,
)


def material_code(*, session: Session, material: str) -> str:
    """Check that ``material`` is a filament counted in grams; return its item code."""
    item = catalogue.get_item(session=session, code=material.strip().lower())
    if item.kind is not ItemKind.MATERIAL or item.unit is not Unit.GRAM:
        raise InvalidInput(f"{item.code} is not a filament counted in grams")
    return item.code


class LoadedSpool(Protocol):
    """What the grams left are read from (a ``FarmPrinter``, or the columns a claim reads)."""

    @property
    def loaded_material(self) -> str: ...
    @property
    def loaded_lot(self) -> str: ...
    @property
    def location_id(self) -> int: ...


def grams_left(*, session: Session, printer: LoadedSpool) -> int:
    """Grams of the loaded lot still on the printer, from the ledger (0 when nothing is loaded)."""
    if not printer.loaded_material:
        return 0
    return balances.cached_quantity(  # a printer is a real location: its balances are cached
        session=session,
        item=printer.loaded_material,
        location_id=printer.location_id,
        lot=printer.loaded_lot,
    )


def load_spool(
    *,
    session: Session,
    name: str,
    material: str,
    lot: str,
    grams: int | None,
    actor: str,
) -> tuple[FarmPrinter, int]:
    """Put a spool of ``lot`` on the printer, moving ``grams`` (default: all of the lot in the
    fablab's stock) from the stock to the printer. A spool already loaded is unloaded first.

    Returns:
        The printer and the grams now loaded.

    Raises:
        PrinterInUse, InvalidInput, UnknownItem, InsufficientStock.
    """
    printer = get_printer(session=session, name=name, lock=True)
    require_idle(printer, "load a spool on")
    code, lot = material_code(session=session, material=material), lot.strip()
    if not lot or len(lot) > 80:
        raise InvalidInput("--lot must be 1 to 80 characters: grams left are counted per lot")
    stock = fablabs.stock_location_code(fablab_of(session=session, printer=printer).slug)
    if printer.loaded_material:
        unload_spool(session=session, name=printer.name, actor=actor)
    if grams is None:
        item = catalogue.get_item(session=session, code=code)
        location = catalogue.get_location(session=session, code=stock)
        assert item.id is not None and location.id is not None
        grams = balances.quantity(
            session=session, item_id=item.id, location_id=location.id, lot=lot
        )
        if grams <= 0:
            raise InvalidInput(f"no {code} lot {lot} in stock at {stock}")
    if grams <= 0:
        raise InvalidInput(f"--grams must be positive, got {grams}")
    _move(session, printer, code, lot, grams, stock, location_code(printer.name), actor, "load")
    printer.loaded_material, printer.loaded_lot, printer.notice = code, lot, ""
    session.add(printer)
    return printer, grams


def unload_spool(*, session: Session, name: str, actor: str) -> tuple[FarmPrinter, int]:
    """Take the spool off: what is left of the lot goes back to the fablab's stock.

    Returns:
        The printer and the grams moved back.
    """
    printer = get_printer(session=session, name=name, lock=True)
    require_idle(printer, "unload")
    if not printer.loaded_material:
        raise InvalidInput(f"printer {printer.name} has no spool loaded")
    left = grams_left(session=session, printer=printer)
    if left > 0:
        stock = fablabs.stock_location_code(fablab_of(session=session, printer=printer).slug)
        _move(
            session,
            printer,
            printer.loaded_material,
            printer.loaded_lot,
            left,
            location_code(printer.name),
            stock,
            actor,
            "unload",
        )
    printer.loaded_material, printer.loaded_lot = "", ""
    session.add(printer)
    return printer, max(left, 0)


def _move(
    session: Session,
    printer: FarmPrinter,
    item: str,
    lot: str,
    grams: int,
    source: str,
    destination: str,
    actor: str,
    what: str,
) -> None:
    post(
        session=session,
        request=PostingRequest(
            reason=MoveReason.TRANSFER,
            doc_type=f"printer_{what}",
            doc_id=f"{printer.name}@{utc_now():%Y%m%dT%H%M%S%f}",
            legs=transfer(item=item, qty=grams, source=source, destination=destination, lot=lot),
            actor=actor,
        ),
    )


def describe(*, session: Session, printer: FarmPrinter) -> PrinterPublic:
    """The printer as people and scripts see it (the API key reference, never the key)."""
    return PrinterPublic(
        name=printer.name,
        fablab=fablab_of(session=session, printer=printer).name,
        url=printer.url,
        api_key_source=api_key_source(printer),
        location=location_code(printer.name),
        nozzle_mm=printer.nozzle_um / 1000,
        bed_mm=f"{printer.bed_x_mm}x{printer.bed_y_mm}",
        enabled=printer.enabled,
        maintenance=printer.maintenance_note,
        auto_clear=printer.auto_clear,
        bed_clear=printer.bed_clear,
        material=printer.loaded_material,
        lot=printer.loaded_lot,
        grams_left=grams_left(session=session, printer=printer),
        state=printer.state,
        reachable=printer.reachable,
        completion=printer.completion,
        time_left_s=printer.time_left_s,
        job_id=printer.current_job_id,
        notice=printer.notice,
        last_seen_at=printer.last_seen_at,
    )
