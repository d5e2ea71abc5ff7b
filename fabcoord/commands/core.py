"""The core's commands: init, reference, fablab, item, location, stock and ledger.

Mounted by ``cli.py`` with ``app.add_typer(core.app)``. Services are imported inside each command,
so that listing the commands (``fabcoord --help``) imports no database code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from fabcoord.commands import face
from fabcoord.commands.face import MAX_ID, JsonOption, UnitOption

if TYPE_CHECKING:
    from fabcoord.ledger.operations import StockChange

app = typer.Typer()
reference_app = typer.Typer(
    help="Public reference data: CHU, DIRECCTE, pôles.", no_args_is_help=True
)
fablab_app = typer.Typer(help="Fablabs and their stock locations.", no_args_is_help=True)
item_app = typer.Typer(help="Items: materials, parts, finished visors.", no_args_is_help=True)
location_app = typer.Typer(help="Locations where stock can be.", no_args_is_help=True)
stock_app = typer.Typer(help="Receive, adjust, move and show stock.", no_args_is_help=True)
ledger_app = typer.Typer(help="Read, reverse and check the ledger.", no_args_is_help=True)
app.add_typer(reference_app, name="reference")
app.add_typer(fablab_app, name="fablab")
app.add_typer(item_app, name="item")
app.add_typer(location_app, name="location")
app.add_typer(stock_app, name="stock")
app.add_typer(ledger_app, name="ledger")

LotOption = Annotated[str, typer.Option("--lot", help="Lot or batch number.")]
KeyOption = Annotated[
    str | None, typer.Option("--key", help="Idempotency key: the same key posts at most once.")
]
SUPPLIERS = "supplier"  # fabcoord.ledger.catalogue.SUPPLIERS, without importing the database layer


# --- schema and reference data -------------------------------------------------------------


@app.command()
def init() -> None:
    """Create the database schema, or upgrade it; running it again is harmless."""
    from fabcoord.bootstrap import initialise_database
    from fabcoord.schema import migration_locations

    context = face.context()
    report = initialise_database(context.engine, migration_locations())
    where = context.engine.url.render_as_string(hide_password=True)
    face.out().print(
        f"schema {report.state} at revision {', '.join(sorted(report.after))} in {where}; "
        f"{report.seeded} standard items and locations added"
    )


@reference_app.command("load")
def reference_load(as_json: JsonOption = False) -> None:
    """Load CHU, DIRECCTE and pôles de compétitivité from the data folder (idempotent)."""
    from fabcoord import reference

    with face.work() as session:
        report = reference.load_reference_data(
            session=session, data_dir=face.context().settings.data_dir
        )
    if as_json:
        face.print_json(report)
        return
    kinds = sorted(set(report.added) | set(report.updated) | set(report.unchanged))
    face.table(
        "reference data",
        ["records", "added", "updated", "unchanged"],
        [
            [k, report.added.get(k, 0), report.updated.get(k, 0), report.unchanged.get(k, 0)]
            for k in kinds
        ],
    )
    if not report.changed:
        face.say("nothing changed")
    for line in report.changes[:20]:
        face.say(f"  {line}")
    if len(report.changes) > 20:
        face.say(f"  … and {len(report.changes) - 20} more changes (--json lists them all)")


@reference_app.command("hospitals")
def reference_hospitals(as_json: JsonOption = False) -> None:
    """List the hospitals and their ledger locations."""
    from fabcoord import reference

    with face.work(read_only=True) as session:
        rows = [
            {
                "slug": h.slug,
                "name": h.name,
                "city": h.city,
                "region": region,
                "finess": h.finess,
                "location": reference.hospital_location_code(h.slug),
            }
            for h, region in reference.list_hospitals(session=session)
        ]
    face.listing(
        "hospitals",
        ["slug", "name", "city", "region", "finess"],
        rows,
        lambda r: [r["slug"], r["name"], r["city"], r["region"], r["finess"]],
        as_json=as_json,
    )


# --- fablabs, items, locations -------------------------------------------------------------


@fablab_app.command("add")
def fablab_add(
    name: str,
    city: Annotated[str, typer.Option("--city", help="City of the fablab.")],
    region: Annotated[str, typer.Option("--region", help="Region, e.g. 'Pays de la Loire'.")],
    contact: Annotated[str, typer.Option("--contact", help="E-mail or phone.")] = "",
) -> None:
    """Register a fablab; its stock location is fablab/<slug>."""
    from fabcoord import fablabs

    with face.work() as session:
        fablab = fablabs.add_fablab(
            session=session, name=name, city=city, region=region, contact=contact
        )
    face.say(f"fablab {fablab.name} added, stock location {fablab.stock_location}")


@fablab_app.command("list")
def fablab_list(
    region: Annotated[str | None, typer.Option("--region")] = None, as_json: JsonOption = False
) -> None:
    """List fablabs."""
    from fabcoord import fablabs

    with face.work(read_only=True) as session:
        rows = fablabs.list_fablabs(session=session, region=region)
    face.listing(
        "fablabs",
        ["slug", "name", "city", "region", "contact", "stock location"],
        rows,
        lambda f: [f.slug, f.name, f.city, f.region, f.contact, f.stock_location],
        as_json=as_json,
    )


@item_app.command("add")
def item_add(
    code: str,
    name: Annotated[str, typer.Option("--name")],
    kind: Annotated[str, typer.Option("--kind", help="material, part or finished.")],
    unit: Annotated[str, typer.Option("--unit", help="Base unit: g, mm, pcs or sheet.")],
    allow_negative: Annotated[bool, typer.Option("--allow-negative")] = False,
) -> None:
    """Define an item."""
    from fabcoord.ledger import catalogue
    from fabcoord.ledger.models import ItemKind, Unit

    item_kind = face.parse_enum(ItemKind, kind, "--kind")
    base = face.parse_enum(Unit, unit, "--unit")
    with face.work() as session:
        item = catalogue.add_item(
            session=session,
            code=code,
            name=name,
            kind=item_kind,
            unit=base,
            allow_negative=allow_negative,
        )
    face.say(f"item {item.code} added ({item.kind.value}, counted in {item.unit.value})")


@item_app.command("list")
def item_list(as_json: JsonOption = False) -> None:
    """List items."""
    from fabcoord.ledger import catalogue

    with face.work(read_only=True) as session:
        rows = [i.model_dump(exclude={"id"}) for i in catalogue.list_items(session=session)]
    face.listing(
        "items",
        ["code", "name", "kind", "unit", "allow negative"],
        rows,
        lambda r: [r["code"], r["name"], r["kind"], r["unit"], r["allow_negative"]],
        as_json=as_json,
    )


@location_app.command("add")
def location_add(
    code: str,
    name: Annotated[str, typer.Option("--name")],
    kind: Annotated[str, typer.Option("--kind", help="stock, transit, scrap, supplier, partner…")],
    fablab: Annotated[str | None, typer.Option("--fablab", help="Fablab it belongs to.")] = None,
) -> None:
    """Define a location."""
    from fabcoord import fablabs
    from fabcoord.ledger import catalogue
    from fabcoord.ledger.models import LocationKind

    location_kind = face.parse_enum(LocationKind, kind, "--kind")
    with face.work() as session:
        fablab_id = fablabs.get_fablab(session=session, name=fablab).id if fablab else None
        location = catalogue.add_location(
            session=session, code=code, name=name, kind=location_kind, fablab_id=fablab_id
        )
    face.say(f"location {location.code} added ({location.kind.value})")


@location_app.command("list")
def location_list(
    kind: Annotated[str | None, typer.Option("--kind")] = None, as_json: JsonOption = False
) -> None:
    """List locations."""
    from fabcoord.ledger import catalogue
    from fabcoord.ledger.models import LocationKind

    location_kind = face.parse_enum(LocationKind, kind, "--kind") if kind else None
    with face.work(read_only=True) as session:
        rows = [
            {
                "code": loc.code,
                "name": loc.name,
                "kind": loc.kind.value,
                "virtual": loc.kind.is_virtual,
            }
            for loc in catalogue.list_locations(session=session, kind=location_kind)
        ]
    face.listing(
        "locations",
        ["code", "name", "kind", "virtual"],
        rows,
        lambda r: list(r.values()),
        as_json=as_json,
    )


# --- stock ---------------------------------------------------------------------------------


def _report(change: StockChange) -> None:
    posted, lot = change.posting, f" lot {change.lot}" if change.lot else ""
    face.say(
        f"move {posted.id}: {change.qty} {change.unit} {change.item}{lot} "
        f"{change.source} → {change.destination} ({posted.reason.value}, "
        f"{posted.doc_type}:{posted.doc_id}); {change.location} now holds "
        f"{change.balance_after} {change.unit}"
    )


@stock_app.command("receive")
def stock_receive(
    item: str,
    qty: Annotated[str, typer.Argument(help="Quantity, in --unit or the item's base unit.")],
    to: Annotated[str, typer.Option("--to", help="Receiving location, e.g. fablab/<slug>.")],
    ref: Annotated[str, typer.Option("--ref", help="Supplier delivery note or invoice number.")],
    source: Annotated[str, typer.Option("--from", help="Supplier location.")] = SUPPLIERS,
    unit: UnitOption = None,
    lot: LotOption = "",
    key: KeyOption = None,
) -> None:
    """Receive material from a supplier into a location."""
    from fabcoord.ledger import operations

    with face.work() as session:
        change = operations.receive(
            session=session,
            item=item,
            quantity=qty,
            unit=unit,
            destination=to,
            reference=ref,
            source=source,
            lot=lot,
            key=key,
            actor=face.context().actor,
        )
    _report(change)


@stock_app.command("adjust")
def stock_adjust(
    item: str,
    at: Annotated[str, typer.Option("--at", help="Location whose count is corrected.")],
    by: Annotated[str, typer.Option("--by", help="Signed change, e.g. -120 or 500.")],
    reason: Annotated[str, typer.Option("--reason", help="Why: count, damage, found…")],
    unit: UnitOption = None,
    lot: LotOption = "",
    key: KeyOption = None,
) -> None:
    """Correct a balance after a count (posted against inventory-adjustment)."""
    from fabcoord.ledger import operations

    with face.work() as session:
        change = operations.adjust(
            session=session,
            item=item,
            change=by,
            unit=unit,
            location=at,
            reason=reason,
            lot=lot,
            key=key,
            actor=face.context().actor,
        )
    _report(change)


@stock_app.command("move")
def stock_move(
    item: str,
    qty: str,
    source: Annotated[str, typer.Option("--from", help="Location the stock leaves.")],
    to: Annotated[str, typer.Option("--to", help="Location the stock enters.")],
    doc: Annotated[str | None, typer.Option("--doc", help="Causing document TYPE:ID.")] = None,
    unit: UnitOption = None,
    lot: LotOption = "",
    key: KeyOption = None,
) -> None:
    """Move stock between locations."""
    from fabcoord.ledger import operations

    document = face.parse_doc(doc) if doc is not None else None
    with face.work() as session:
        change = operations.move(
            session=session,
            item=item,
            quantity=qty,
            unit=unit,
            source=source,
            destination=to,
            lot=lot,
            document=document,
            key=key,
            actor=face.context().actor,
        )
    _report(change)


@stock_app.command("show")
def stock_show(
    item: Annotated[str | None, typer.Option("--item")] = None,
    location: Annotated[str | None, typer.Option("--location")] = None,
    lot: Annotated[str | None, typer.Option("--lot")] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="ISO time (UTC if no offset).")
    ] = None,
    show_virtual: Annotated[
        bool, typer.Option("--all", help="Include virtual locations (suppliers, production…).")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Show balances per item, location and lot."""
    from fabcoord.ledger import balances, catalogue

    moment = face.parse_time(as_of, "--as-of")
    with face.work(read_only=True) as session:
        item_id = catalogue.get_item(session=session, code=item).id if item else None
        location_id = (
            catalogue.get_location(session=session, code=location).id if location else None
        )
        rows = balances.balances(
            session=session,
            item_id=item_id,
            location_id=location_id,
            lot=lot,
            as_of=moment,
            include_virtual=show_virtual or location is not None,
        )
    face.listing(
        f"stock as of {moment:%Y-%m-%d %H:%M} UTC" if moment else "stock now",
        ["location", "item", "lot", "qty", "unit"],
        rows,
        lambda r: [r.location, r.item, r.lot or "-", r.qty, r.unit],
        as_json=as_json,
    )


# --- ledger --------------------------------------------------------------------------------

LEDGER_COLUMNS = [
    "move",
    "time (UTC)",
    "reason",
    "document",
    "item",
    "location",
    "lot",
    "qty",
    "unit",
    "actor",
    "note",
]


@ledger_app.command("show")
def ledger_show(
    item: Annotated[str | None, typer.Option("--item")] = None,
    location: Annotated[str | None, typer.Option("--location")] = None,
    lot: Annotated[str | None, typer.Option("--lot")] = None,
    doc: Annotated[str | None, typer.Option("--doc", help="TYPE:ID or TYPE.")] = None,
    since: Annotated[str | None, typer.Option("--since")] = None,
    until: Annotated[str | None, typer.Option("--until")] = None,
    move: Annotated[
        int | None, typer.Option("--move", help="One move by number.", min=1, max=MAX_ID)
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=100000)] = 1000,
    as_json: JsonOption = False,
) -> None:
    """Show ledger moves, oldest first."""
    from fabcoord.ledger import journal

    doc_type, _, doc_id = (doc or "").partition(":")
    where = journal.MoveFilter(
        item=item,
        location=location,
        lot=lot,
        doc_type=doc_type or None,
        doc_id=doc_id or None,
        since=face.parse_time(since, "--since"),
        until=face.parse_time(until, "--until"),
        posting_id=move,
        limit=limit,
    )
    with face.work(read_only=True) as session:
        rows = journal.list_moves(session=session, where=where)
    face.listing(
        "ledger",
        LEDGER_COLUMNS,
        rows,
        lambda r: [
            r.move,
            f"{r.posted_at:%Y-%m-%d %H:%M:%S}",
            r.reason
            + (f" of {r.reverses}" if r.reverses else "")
            + (f" (reversed by {r.reversed_by})" if r.reversed_by else ""),
            f"{r.doc_type}:{r.doc_id}",
            r.item,
            r.location,
            r.lot or "-",
            r.qty,
            r.unit,
            r.actor,
            r.note,
        ],
        as_json=as_json,
    )


@ledger_app.command("reverse")
def ledger_reverse(
    move_id: Annotated[int, typer.Argument(metavar="MOVE_ID", min=1, max=MAX_ID)],
    reason: Annotated[str, typer.Option("--reason", help="Why the move is cancelled.")],
) -> None:
    """Cancel a move by posting its exact opposite (the original stays in the ledger)."""
    from fabcoord.ledger import posting

    with face.work() as session:
        reversal = posting.reverse(
            session=session, posting_id=move_id, reason=reason, actor=face.context().actor
        )
    face.say(f"move {reversal.id} reverses move {move_id}")


@ledger_app.command("check")
def ledger_check(
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Rebuild the balance cache.")] = False,
) -> None:
    """Compare the balance cache with the moves (and rebuild it on request)."""
    from fabcoord.errors import FabcoordError
    from fabcoord.ledger import balances

    with face.work() as session:
        if rebuild:
            count = balances.rebuild_balance_cache(session=session)
            face.say(f"balance cache rebuilt from the moves: {count} balances")
            return
        wrong = balances.cache_discrepancies(session=session)
    if wrong:
        raise FabcoordError(
            f"balance cache differs from the moves at {len(wrong)} balances: run "
            "'fabcoord ledger check --rebuild'"
        )
    face.say("balance cache agrees with the moves")
