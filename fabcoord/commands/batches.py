"""The core's batch, shipment and receipt commands: ``batch …``, ``ship``, ``deliver confirm``.

Mounted by ``cli.py`` with ``app.add_typer(batches.app)``; services are imported inside each
command.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from fabcoord.commands import face
from fabcoord.commands.face import JsonOption, ReasonOption

if TYPE_CHECKING:
    from fabcoord.batches.models import Batch
    from fabcoord.batches.quality import QualitySettings

app = typer.Typer()
batch_app = typer.Typer(
    help="Batches of finished visors: assemble, inspect, release, documents, recall.",
    no_args_is_help=True,
)
deliver_app = typer.Typer(help="Receipts of shipments by hospitals.", no_args_is_help=True)
app.add_typer(batch_app, name="batch")
app.add_typer(deliver_app, name="deliver")

BatchArgument = Annotated[str, typer.Argument(help="Batch number, e.g. LOT-2026-0001.")]
OutOption = Annotated[Path, typer.Option("--out", help="Where to write the PDF.")]


def _quality() -> QualitySettings:
    from fabcoord.batches.quality import load

    return load(face.context().settings.data_dir)


def _batch_row(batch: Batch, held: int | None = None) -> dict[str, Any]:
    return {
        "number": batch.number,
        "design": batch.design,
        "quantity": batch.quantity,
        "state": batch.state.value,
        "assembled_at": batch.assembled_at.isoformat(timespec="seconds"),
        "released_by": batch.released_by,
        "in_stock": held,
    }


@batch_app.command("assemble")
def batch_assemble(
    fablab: Annotated[str, typer.Option("--fablab", help="Fablab whose stock is used.")],
    qty: Annotated[int, typer.Option("--qty", help="Visors to assemble.")],
    design: Annotated[str, typer.Option("--design", help="Design name (recorded).")] = "",
    as_json: JsonOption = False,
) -> None:
    """Assemble visors from a fablab's frames, sheets and elastic into a new numbered batch."""
    from fabcoord.batches import service

    quality = _quality()
    with face.work() as session:
        batch = service.assemble(
            session=session,
            fablab=fablab,
            qty=qty,
            design=design,
            actor=face.context().actor,
            quality=quality,
        )
        row = _batch_row(batch, batch.quantity)
    if as_json:
        face.print_json(row)
        return
    face.say(f"batch {row['number']}: {qty} visors assembled, waiting for inspection")


@batch_app.command("list")
def batch_list(as_json: JsonOption = False) -> None:
    """List batches and their state."""
    from fabcoord.batches import service

    with face.work(read_only=True) as session:
        rows = [
            _batch_row(b, service.stock_of(session=session, batch=b))
            for b in service.list_batches(session=session)
        ]
    face.listing(
        "batches",
        ["batch", "design", "qty", "state", "in stock"],
        rows,
        lambda r: [r["number"], r["design"], r["quantity"], r["state"], r["in_stock"]],
        as_json=as_json,
    )


@batch_app.command("show")
def batch_show(number: BatchArgument, as_json: JsonOption = False) -> None:
    """Show what went into a batch: lots, frame sources, checks, shipments."""
    from fabcoord.batches.record import batch_record

    with face.work(read_only=True) as session:
        record = batch_record(session=session, number=number)
    if as_json:
        face.print_json(record)
        return
    face.say(f"batch {record.number} ({record.state}): {record.quantity} visors, {record.fablab}")
    face.table("lots used", ["item", "lot", "qty"], [[x.item, x.lot, x.qty] for x in record.lots])
    face.table(
        "frames from",
        ["document", "printer", "filament lot", "qty"],
        [[f"{s.doc_type}:{s.doc_id}", s.printer, s.material_lot, s.frames] for s in record.sources],
    )
    face.table(
        "inspections",
        ["inspector", "sample", "passed"],
        [[c.inspector, c.sample_size, "yes" if c.passed else "no"] for c in record.checks],
    )


@batch_app.command("inspect")
def batch_inspect(
    number: BatchArgument,
    inspector: Annotated[
        str | None, typer.Option("--inspector", help="Who inspects (default: --actor).")
    ] = None,
    passed: Annotated[
        list[str] | None, typer.Option("--pass", help="A check that passed (repeatable).")
    ] = None,
    failed: Annotated[
        list[str] | None, typer.Option("--fail", help="A check that failed (repeatable).")
    ] = None,
    all_pass: Annotated[bool, typer.Option("--all-pass", help="Every check passed.")] = False,
    from_file: Annotated[
        Path | None,
        typer.Option("--from-file", help="JSON: {inspector, results: {check: bool}, cleaning_…}."),
    ] = None,
    cleaning_product: Annotated[
        str, typer.Option("--cleaning-product", help="Product used to clean/disinfect.")
    ] = "",
    cleaning_date: Annotated[
        str | None, typer.Option("--cleaning-date", help="Date of the cleaning, YYYY-MM-DD.")
    ] = None,
    on_fail: Annotated[
        str, typer.Option("--on-fail", help="A failed batch goes to: quarantine or scrap.")
    ] = "quarantine",
) -> None:
    """Fill a batch's checklist: released when every check passes (prompts on a terminal)."""
    from fabcoord.batches import service

    quality = _quality()
    results: dict[str, bool] = {c.code: True for c in quality.checks} if all_pass else {}
    results.update({code: True for code in passed or []})
    results.update({code: False for code in failed or []})
    fields: dict[str, Any] = {}
    if from_file is not None:
        fields = _read_inspection(from_file)
        results.update(fields.get("results", {}))
    if sys.stdin.isatty():
        for check in quality.checks:
            if check.code not in results:
                results[check.code] = typer.confirm(f"{check.label} — conforme ?")
        if results.get("cleaning") and not (cleaning_product or fields.get("cleaning_product")):
            cleaning_product = typer.prompt("Produit de nettoyage/désinfection")
        if results.get("cleaning") and not (cleaning_date or fields.get("cleaning_date")):
            cleaning_date = typer.prompt("Date du nettoyage (AAAA-MM-JJ)")
    when = face.parse_time(cleaning_date or fields.get("cleaning_date"), "--cleaning-date")
    filled = service.InspectionInput(
        results=results,
        inspector=inspector or str(fields.get("inspector") or face.context().actor),
        cleaning_product=cleaning_product or str(fields.get("cleaning_product") or ""),
        cleaning_date=when.date() if when else None,
        note=str(fields.get("note") or ""),
    )
    with face.work() as session:
        record = service.inspect(
            session=session,
            number=number,
            filled=filled,
            quality=quality,
            actor=face.context().actor,
            on_fail=on_fail,
        )
        state = service.get_batch(session=session, number=number).state.value
        sample = record.sample_size
    face.say(f"inspected {sample} visors of {number}")
    face.transition("batch", number, state)


def _read_inspection(path: Path) -> dict[str, Any]:
    import json

    from fabcoord.errors import InvalidInput

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise InvalidInput(f"--from-file {path}: {error}") from None
    results = data.get("results") if isinstance(data, dict) else None
    if not isinstance(results, dict) or not all(isinstance(v, bool) for v in results.values()):
        raise InvalidInput(f"--from-file {path}: 'results' must map each check to true or false")
    return dict(data)


@batch_app.command("quarantine")
def batch_quarantine(number: BatchArgument) -> None:
    """Hold a batch apart: its visors move to the fablab's quarantine location."""
    from fabcoord.batches import service

    with face.work() as session:
        service.quarantine(session=session, number=number, actor=face.context().actor)
    face.transition("batch", number, "quarantined")


@batch_app.command("scrap")
def batch_scrap(number: BatchArgument, reason: ReasonOption) -> None:
    """Scrap the visors of a batch that are still at its fablab."""
    from fabcoord.batches import service

    with face.work() as session:
        batch = service.scrap(
            session=session, number=number, actor=face.context().actor, reason=reason
        )
        state = batch.state.value
    face.transition("batch", number, state)


@batch_app.command("recall")
def batch_recall(number: BatchArgument, reason: ReasonOption, as_json: JsonOption = False) -> None:
    """Recall a batch: it never ships again; lists the hospitals and shipments that got it."""
    from fabcoord.batches import service

    with face.work() as session:
        recipients = service.recall(
            session=session, number=number, reason=reason, actor=face.context().actor
        )
    if not as_json:
        face.transition("batch", number, "recalled")
    face.listing(
        f"who got {number}",
        ["hospital", "order", "shipment", "qty", "received"],
        recipients,
        lambda r: [r.hospital, r.reference, r.shipment, r.shipped, r.received],
        as_json=as_json,
    )


@batch_app.command("record")
def batch_record_command(number: BatchArgument, out: OutOption = Path(".")) -> None:
    """Write the batch record PDF (dossier de lot)."""
    from fabcoord.batches import paperwork

    path = _target(out, f"dossier-{number}.pdf")
    with face.work(read_only=True) as session:
        paperwork.write_record(session=session, number=number, path=path)
    face.say(f"wrote {path}")


@batch_app.command("labels")
def batch_labels(
    number: BatchArgument,
    out: OutOption = Path("."),
    per_box: Annotated[int | None, typer.Option("--per-box", min=1, help="Visors per box.")] = None,
) -> None:
    """Write the box labels PDF: batch number and marking text."""
    from fabcoord.batches import paperwork

    quality = _quality()
    path = _target(out, f"etiquettes-{number}.pdf")
    with face.work(read_only=True) as session:
        paperwork.write_labels(
            session=session, number=number, path=path, quality=quality, per_box=per_box
        )
    face.say(f"wrote {path}")


@batch_app.command("notice")
def batch_notice(number: BatchArgument, out: OutOption = Path(".")) -> None:
    """Write the user notice PDF to ship with the batch's visors."""
    from fabcoord.batches import paperwork

    quality = _quality()
    path = _target(out, f"notice-{number}.pdf")
    with face.work(read_only=True) as session:
        paperwork.write_notice(session=session, number=number, path=path, quality=quality)
    face.say(f"wrote {path}")


@app.command("ship")
def ship(
    reference: Annotated[str, typer.Argument(help="Order reference, CMD-….")],
    batch: Annotated[str, typer.Option("--batch", help="Released batch to ship from.")],
    qty: Annotated[int, typer.Option("--qty", help="Visors to ship.")],
    carrier: Annotated[str, typer.Option("--carrier", help="Carrier (recorded).")] = "",
    line: Annotated[int | None, typer.Option("--line", min=1, help="Order line.")] = None,
    out: OutOption = Path("."),
    as_json: JsonOption = False,
) -> None:
    """Ship visors of a released batch against an order; writes the delivery note PDF."""
    from fabcoord.shipping import service

    with face.work() as session:
        shipment = service.ship(
            session=session,
            reference=reference,
            batch_number=batch,
            qty=qty,
            carrier=carrier,
            line=line,
            actor=face.context().actor,
        )
        number = shipment.number
        path = _target(out, f"bl-{number}.pdf")
        service.write_delivery_note(session=session, number=number, path=path)
    if as_json:
        face.print_json({"shipment": number, "delivery_note": str(path)})
        return
    face.say(f"shipment {number}: {qty} visors of {batch} for {reference}; delivery note {path}")


@deliver_app.command("confirm")
def deliver_confirm(
    shipment: Annotated[str, typer.Argument(help="Shipment number, SHP-….")],
    received: Annotated[int, typer.Option("--received", min=0, help="Visors received.")],
    signed_by: Annotated[str, typer.Option("--signed-by", help="Who signs for the hospital.")],
    refused: Annotated[int, typer.Option("--refused", min=0, help="Visors refused.")] = 0,
    reason: Annotated[str, typer.Option("--reason", help="Why visors were refused.")] = "",
    refused_to: Annotated[
        str, typer.Option("--refused-to", help="Refused visors go to: fablab or scrap.")
    ] = "fablab",
) -> None:
    """Record a hospital's receipt of a shipment (for a hospital that phones)."""
    from fabcoord.shipping import service

    receipt = service.Receipt(
        received=received,
        refused=refused,
        signed_by=signed_by,
        refusal_reason=reason,
        refused_to=refused_to,
    )
    with face.work() as session:
        service.confirm_receipt(
            session=session, number=shipment, receipt=receipt, actor=face.context().actor
        )
    face.say(f"shipment {shipment}: {received} received, {refused} refused, signed by {signed_by}")


def _target(out: Path, name: str) -> Path:
    from fabcoord.errors import InvalidInput

    path = out / name if out.is_dir() else out
    if not path.parent.is_dir():
        raise InvalidInput(f"--out {out}: folder {path.parent} does not exist")
    return path
