"""Sourcing's commands: ``suppliers`` (directory), ``sourcing`` (needs, matching), ``purchase``
(orders to suppliers) and ``trace`` (lots and shipments).

Mounted by ``cli.py`` with ``app.add_typer(suppliers.commands.app)``. Services are imported inside
each command, so pandas and reportlab load only for the commands that use them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fabcoord.commands import face
from fabcoord.commands.face import MAX_ID, JsonOption, UnitOption

app = typer.Typer()
suppliers_app = typer.Typer(help="The supplier directory (DIRECCTE, pôles).", no_args_is_help=True)
sourcing_app = typer.Typer(help="What will run out, and who can supply it.", no_args_is_help=True)
purchase_app = typer.Typer(help="Purchase orders to suppliers.", no_args_is_help=True)
app.add_typer(suppliers_app, name="suppliers")
app.add_typer(sourcing_app, name="sourcing")
app.add_typer(purchase_app, name="purchase")

OrderArgument = Annotated[int, typer.Argument(metavar="PO", min=1, max=MAX_ID)]


@suppliers_app.command("import")
def suppliers_import(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="CSV or XLSX list.")],
    source: Annotated[str, typer.Option("--source", help="direccte or pole.")],
    region: Annotated[
        str | None, typer.Option("--region", help="The DIRECCTE's region (rows may omit it).")
    ] = None,
    pole: Annotated[str | None, typer.Option("--pole", help="The pôle's name.")] = None,
    sheet: Annotated[str | None, typer.Option("--sheet", help="XLSX sheet to read.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Import a supplier list: all rows or none, each rejected row named by its line."""
    from suppliers.directory import import_directory
    from suppliers.models import DirectoryKind

    kind = face.parse_enum(DirectoryKind, source, "--source")
    with face.work() as session:
        report = import_directory(
            session=session,
            path=file,
            kind=kind,
            actor=face.context().actor,
            region=region,
            pole=pole,
            sheet=sheet,
        )
    if as_json:
        face.print_json(report)
    elif report.already_imported:
        face.say(f"{file.name} was imported before for {report.directory}: nothing changed")
    else:
        face.say(
            f"{file.name} ({report.directory}): {report.rows} row(s), {report.added} new "
            f"supplier(s), {report.merged} completed, {report.unchanged} already known"
        )


@suppliers_app.command("list")
def suppliers_list(
    item: Annotated[str | None, typer.Option("--item", help="Only those supplying it.")] = None,
    region: Annotated[str | None, typer.Option("--region", help="Only in this region.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List suppliers by name."""
    from suppliers.lookup import list_suppliers

    with face.work(read_only=True) as session:
        found = list_suppliers(session=session, item=item, region=region)
    face.listing(
        "Suppliers",
        ["#", "name", "SIRET", "city", "region", "items", "lead time"],
        found,
        lambda s: [
            s.id,
            s.name,
            s.siret or "",
            s.city,
            s.region,
            ", ".join(s.items),
            f"{s.lead_time_days} d" if s.lead_time_days is not None else "",
        ],
        as_json=as_json,
    )


@suppliers_app.command("show")
def suppliers_show(
    supplier: Annotated[str, typer.Argument(metavar="SUPPLIER", help="Number, SIRET or name.")],
    as_json: JsonOption = False,
) -> None:
    """Show a supplier, what it supplies and every directory that lists it."""
    from suppliers.lookup import get_supplier, view

    with face.work(read_only=True) as session:
        shown = view(session=session, supplier=get_supplier(session=session, ref=supplier))
    if as_json:
        face.print_json(shown)
        return
    face.say(f"#{shown.id} {shown.name} (SIRET {shown.siret or 'unknown'})")
    face.say(f"{shown.address}, {shown.postal_code} {shown.city} — {shown.region}")
    face.say(f"contact: {shown.contact or '-'}")
    face.say(f"products: {shown.products}")
    face.say(f"items: {', '.join(shown.items) or '-'}; capacity: {shown.capacity or '-'}")
    lead = f"{shown.lead_time_days} day(s)" if shown.lead_time_days is not None else "-"
    face.say(f"lead time: {lead}")
    for source in shown.sources:
        face.say(f"listed by {source}")


@sourcing_app.command("needs")
def sourcing_needs(
    horizon_days: Annotated[int, typer.Option("--horizon-days", min=1, max=366)] = 28,
    elastic_mm: Annotated[
        int | None,
        typer.Option(
            "--elastic-mm",
            min=1,
            help="Elastic per visor, mm (default: the visor's bill of materials, batch_quality.toml).",
        ),
    ] = None,
    frame_grams: Annotated[
        float, typer.Option("--frame-grams", min=0.1, help="PETG per frame (design weight).")
    ] = 24.4,
    as_json: JsonOption = False,
) -> None:
    """What will run short per fablab (or region) and when, within the horizon."""
    from decimal import Decimal

    from fabcoord.batches import quality
    from fabcoord.clock import utc_now
    from suppliers.needs import compute_needs

    bill = quality.load(face.context().settings.data_dir)
    with face.work(read_only=True) as session:
        found = compute_needs(
            session=session,
            today=utc_now().date(),
            horizon_days=horizon_days,
            elastic_mm=elastic_mm,
            frame_grams=Decimal(str(frame_grams)),
            components=bill.components,
            components_source=quality.FILENAME,
        )
    face.listing(
        f"Needs over {horizon_days} days",
        ["site", "item", "required", "on hand", "on order", "short", "runs out", "note"],
        found,
        lambda n: [
            n.site,
            n.item,
            _qty(n.required, n.unit),
            _qty(n.on_hand, n.unit),
            _qty(n.on_order, n.unit),
            _qty(n.short, n.unit),
            n.runs_out_on or "",
            n.note,
        ],
        as_json=as_json,
    )


@sourcing_app.command("match")
def sourcing_match(
    item: Annotated[str, typer.Argument(metavar="ITEM")],
    fablab: Annotated[str | None, typer.Option("--fablab", help="Rank by distance to it.")] = None,
    qty: Annotated[str | None, typer.Option("--qty", help="Quantity wanted a week.")] = None,
    unit: UnitOption = None,
    as_json: JsonOption = False,
) -> None:
    """Rank the suppliers of an item: distance, declared capacity, lead time; reasons shown."""
    from fabcoord.ledger import catalogue
    from fabcoord.ledger.units import parse_quantity
    from suppliers.matching import match

    with face.work(read_only=True) as session:
        wanted = None
        if qty is not None:
            base = catalogue.get_item(session=session, code=item).unit
            wanted = parse_quantity(qty, unit=unit, base=base)
        found = match(session=session, item=item, fablab=fablab, quantity=wanted)
    if as_json:
        face.print_json(found)
        return
    if not found:
        face.say(f"no supplier in the directory lists {item}")
    for m in found:
        face.say(f"{m.rank}. #{m.supplier_id} {m.name} ({m.city}, {m.region})")
        for reason in m.reasons:
            face.say(f"   - {reason}")


@purchase_app.command("create")
def purchase_create(
    supplier: Annotated[str, typer.Argument(metavar="SUPPLIER", help="Number, SIRET or name.")],
    item: Annotated[str, typer.Option("--item")],
    qty: Annotated[str, typer.Option("--qty")],
    fablab: Annotated[str, typer.Option("--for", help="The fablab it is delivered to.")],
    unit: UnitOption = None,
    price: Annotated[
        str | None, typer.Option("--price", help="Euros HT per unit (per --unit).")
    ] = None,
    note: Annotated[str, typer.Option("--note")] = "",
) -> None:
    """Create a draft purchase order (a request for quote until sent)."""
    from suppliers import purchasing

    with face.work() as session:
        order = purchasing.create(
            session=session,
            supplier=supplier,
            item=item,
            quantity=qty,
            unit=unit,
            price=price,
            fablab=fablab,
            note=note,
            actor=face.context().actor,
        )
    face.say(f"purchase order {order.id} created (draft): {order.quantity} of {order.item_code}")


@purchase_app.command("send")
def purchase_send(order: OrderArgument) -> None:
    """Mark a draft as sent to the supplier."""
    from suppliers import purchasing

    with face.work() as session:
        done = purchasing.send(session=session, order_id=order)
    face.transition("purchase order", str(order), done.state.value)


@purchase_app.command("confirm")
def purchase_confirm(
    order: OrderArgument,
    expected: Annotated[
        str | None,
        typer.Option(
            "--expected",
            help="Delivery day the supplier gave (default: today + its lead time; needed when "
            "it declares none).",
        ),
    ] = None,
) -> None:
    """The supplier confirmed the order."""
    from suppliers import purchasing

    day = face.parse_date(expected or None, "--expected")
    with face.work() as session:
        done = purchasing.confirm(session=session, order_id=order, expected_on=day)
    face.say(f"purchase order {order} is now {done.state.value}, expected on {done.expected_on}")


@purchase_app.command("cancel")
def purchase_cancel(order: OrderArgument) -> None:
    """Cancel an order (what was received stays received)."""
    from suppliers import purchasing

    with face.work() as session:
        done = purchasing.cancel(session=session, order_id=order)
    face.transition("purchase order", str(order), done.state.value)


@purchase_app.command("receive")
def purchase_receive(
    order: OrderArgument,
    qty: Annotated[str, typer.Option("--qty")],
    lot: Annotated[str, typer.Option("--lot", help="The supplier's lot number.")],
    unit: UnitOption = None,
    over: Annotated[bool, typer.Option("--over", help="Accept more than ordered.")] = False,
    key: Annotated[
        str | None, typer.Option("--key", help="Idempotency key: the same key posts once.")
    ] = None,
) -> None:
    """Receive a delivered lot into the fablab's stock (posted to the ledger)."""
    from suppliers import purchasing

    with face.work() as session:
        receipt = purchasing.receive(
            session=session,
            order_id=order,
            quantity=qty,
            unit=unit,
            lot=lot,
            over=over,
            key=key,
            actor=face.context().actor,
        )
        state = purchasing.get_order(session=session, order_id=order).state
    face.say(
        f"received {receipt.quantity} of lot {receipt.lot} (move {receipt.posting_id}); "
        f"purchase order {order} is now {state.value}"
    )


@purchase_app.command("list")
def purchase_list(
    state: Annotated[str | None, typer.Option("--state", help="draft, sent…")] = None,
    fablab: Annotated[str | None, typer.Option("--fablab")] = None,
    as_json: JsonOption = False,
) -> None:
    """List purchase orders."""
    from suppliers import purchasing
    from suppliers.models import PurchaseState

    wanted = face.parse_enum(PurchaseState, state, "--state") if state else None
    with face.work(read_only=True) as session:
        found = purchasing.list_orders(session=session, state=wanted, fablab=fablab)
    face.listing(
        "Purchase orders",
        ["#", "state", "supplier", "fablab", "item", "qty", "received", "expected"],
        found,
        lambda o: [
            o.id,
            o.state.value,
            o.supplier_id,
            o.fablab_id,
            o.item_code,
            o.quantity,
            o.received,
            o.expected_on or "",
        ],
        as_json=as_json,
    )


@purchase_app.command("show")
def purchase_show(order: OrderArgument, as_json: JsonOption = False) -> None:
    """Show an order and its receipts."""
    from suppliers import purchasing

    with face.work(read_only=True) as session:
        found = purchasing.get_order(session=session, order_id=order)
        receipts = purchasing.receipts_of(session=session, order_id=order)
    if as_json:
        face.print_json({"order": found, "receipts": receipts})
        return
    face.say(
        f"purchase order {found.id}: {found.state.value}, {found.quantity} of {found.item_code} "
        f"({found.received} received), supplier #{found.supplier_id}, fablab #{found.fablab_id}"
    )
    for receipt in receipts:
        face.say(f"  lot {receipt.lot}: {receipt.quantity} (move {receipt.posting_id})")


@purchase_app.command("pdf")
def purchase_pdf(
    order: OrderArgument,
    out: Annotated[Path | None, typer.Option("--out", help="File (default BC-<PO>.pdf).")] = None,
) -> None:
    """Write the order as a French PDF: « Demande de prix » while a draft, « Bon de commande »."""
    from fabcoord.clock import utc_now
    from suppliers import pdf, purchasing

    with face.work(read_only=True) as session:
        found = purchasing.get_order(session=session, order_id=order)
        data = pdf.render(session=session, order=found, today=utc_now().date())
    target = out or Path(f"BC-{order}.pdf")
    target.write_bytes(data)
    face.say(f"wrote {target}")


@app.command("trace")
def trace(
    lot: Annotated[str | None, typer.Argument(metavar="LOT")] = None,
    shipment: Annotated[str | None, typer.Option("--shipment", help="A shipment's ID.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Where a lot went (printers, jobs, batches, shipments, hospitals), or what made a shipment."""
    from fabcoord.errors import InvalidInput
    from suppliers.trace import trace_lot, trace_shipment

    if (lot is None) == (shipment is None):
        raise InvalidInput("give a LOT or --shipment ID (one of them)")
    with face.work(read_only=True) as session:
        found = (
            trace_lot(session=session, lot=lot)
            if lot is not None
            else trace_shipment(session=session, shipment=shipment or "")
        )
    if as_json:
        face.print_json(found)
        return
    face.say(f"trace of {found.subject}: {len(found.steps)} leg(s)")
    for label, values in (
        ("lots", found.lots),
        ("purchase orders", found.purchase_orders),
        ("printers", found.printers),
        ("print jobs", found.print_jobs),
        ("batches", found.batches),
        ("shipments", found.shipments),
        ("makers", found.makers),
    ):
        face.say(f"{label}: {', '.join(sorted(values)) or '-'}")
    hospitals = ", ".join(f"{h}: {q}" for h, q in sorted(found.hospitals.items()))
    face.say(f"hospitals: {hospitals or '-'}")
    if found.frames_made:
        face.say(f"frames made: {found.frames_made}")
    if found.unlotted:
        face.say(
            "without a lot (every later movement included, to be safe): "
            + ", ".join(sorted(found.unlotted))
        )
    if found.truncated:
        face.say("stopped after 50,000 postings: narrow the trace")


def _qty(value: int | None, unit: str) -> str:
    return "" if value is None else f"{value} {unit}"
