"""The ``fabcoord`` command: composition root and the only user of typer and rich.

Each command parses its input, opens one unit of work, calls one service, renders. Failures are
typed ``FabcoordError`` and are translated here, once: one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import re
import signal
import socket
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session
from typer._click import exceptions as click_errors  # typer 0.29 vendors its own click

import fabcoord.planning.commands
import print_farm
import print_farm.handlers
import print_farm.models
from fabcoord import fablabs, reference, schema
from fabcoord.bootstrap import initialise_database
from fabcoord.config import Settings, load_settings
from fabcoord.db import make_engine, unit_of_work
from fabcoord.errors import FabcoordError, InvalidInput
from fabcoord.ledger import balances, catalogue, journal, operations, posting
from fabcoord.ledger.models import ItemKind, LocationKind, Unit
from orders import MIGRATIONS as ORDERS_MIGRATIONS
from orders import lifecycle as order_lifecycle
from orders import links as order_links
from orders import service as order_service
from orders.models import OrderStatus
from print_farm import designs, dispatcher, probe, queue, registry, spools
from print_farm.attempts import DEFAULT_MAX_ATTEMPTS

MIGRATION_LOCATIONS: list[Path] = []
MAX_ID = 2**31 - 1  # record numbers are 32-bit integers in the database
MIGRATION_LOCATIONS.append(print_farm.MIGRATIONS)

app = typer.Typer(
    help="fabcoord: coordinate fablabs producing visors for hospitals, on one stock ledger.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
reference_app = typer.Typer(
    help="Public reference data: CHU, DIRECCTE, pôles.", no_args_is_help=True
)
fablab_app = typer.Typer(help="Fablabs and their stock locations.", no_args_is_help=True)
item_app = typer.Typer(help="Items: materials, parts, finished visors.", no_args_is_help=True)
location_app = typer.Typer(help="Locations where stock can be.", no_args_is_help=True)
stock_app = typer.Typer(help="Receive, adjust, move and show stock.", no_args_is_help=True)
ledger_app = typer.Typer(help="Read, reverse and check the ledger.", no_args_is_help=True)
for sub_app, sub_name in (
    (reference_app, "reference"),
    (fablab_app, "fablab"),
    (item_app, "item"),
    (location_app, "location"),
    (stock_app, "stock"),
    (ledger_app, "ledger"),
):
    app.add_typer(sub_app, name=sub_name)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
UnitOption = Annotated[str | None, typer.Option("--unit", help="g, kg, mm, m, pcs, sheet…")]
LotOption = Annotated[str, typer.Option("--lot", help="Lot or batch number.")]
KeyOption = Annotated[
    str | None, typer.Option("--key", help="Idempotency key: the same key posts at most once.")
]


@dataclasses.dataclass
class AppContext:
    settings: Settings
    _engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.settings)
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


_CONTEXT: ContextVar[AppContext] = ContextVar("fabcoord_cli_context")


@app.callback()
def _options(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option(
            "--db", help="Database URL (default FABCOORD_DATABASE_URL or sqlite:///fabcoord.db)."
        ),
    ] = None,
    actor: Annotated[
        str | None, typer.Option("--actor", help="Who is recorded on postings (default: $USER).")
    ] = None,
) -> None:
    context = AppContext(load_settings(database_url=db, actor=actor))
    logging.basicConfig(
        level=context.settings.log_level, format="%(levelname)s %(name)s: %(message)s"
    )
    _CONTEXT.set(context)
    ctx.call_on_close(context.close)
    _compose()


def _compose() -> None:
    """Subscribe each package's event handlers and the planner's providers (idempotent)."""
    from fabcoord import events
    from fabcoord.planning import capacity

    print_farm.handlers.subscribe(events.subscribers)
    print_farm.handlers.provide(capacity.providers)


def _ctx() -> AppContext:
    return _CONTEXT.get()


@contextmanager
def _work(*, read_only: bool = False) -> Iterator[Session]:
    context = _ctx()
    schema.require_current_schema(context.engine, MIGRATION_LOCATIONS)
    with unit_of_work(context.engine, read_only=read_only) as session:
        yield session


def _out() -> Console:
    wide = None if sys.stdout.isatty() else 200  # pipes and logs get whole lines
    return Console(highlight=False, soft_wrap=True, width=wide)


def _print_json(data: Any) -> None:
    def encode(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return dataclasses.asdict(value)
        if isinstance(value, BaseModel):
            return value.model_dump()
        if isinstance(value, datetime):
            return value.isoformat()
        return str(value)

    sys.stdout.write(json.dumps(data, default=encode, ensure_ascii=False, indent=2) + "\n")


def _table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, justify="right" if column in {"qty", "move", "#"} else "left")
    for row in rows:  # Text(): user data is never read as rich markup
        table.add_row(*(Text("" if value is None else str(value)) for value in row))
    _out().print(table)


def _parse_time(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(
            f"{option} {text!r} is not an ISO date or time (2020-04-01T12:00)"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _parse_doc(text: str) -> tuple[str, str]:
    doc_type, _, doc_id = text.partition(":")
    if not doc_type.strip() or not doc_id.strip():
        raise InvalidInput(f"--doc {text!r} must be TYPE:ID, for example receipt:BL-2020-118")
    return doc_type.strip(), doc_id.strip()


def _enum(kind: type[Any], value: str, option: str) -> Any:
    try:
        return kind(value.strip().lower())
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise InvalidInput(f"{option} {value!r} is not one of: {allowed}") from None


# --- schema and reference data -------------------------------------------------------------


@app.command()
def init() -> None:
    """Create the database schema, or upgrade it; running it again is harmless."""
    context = _ctx()
    report = initialise_database(context.engine, MIGRATION_LOCATIONS)
    where = context.engine.url.render_as_string(hide_password=True)
    _out().print(
        f"schema {report.state} at revision {', '.join(sorted(report.after))} in {where}; "
        f"{report.seeded} standard items and locations added"
    )


@reference_app.command("load")
def reference_load(as_json: JsonOption = False) -> None:
    """Load CHU, DIRECCTE and pôles de compétitivité from the data folder (idempotent)."""
    with _work() as session:
        report = reference.load_reference_data(session=session, data_dir=_ctx().settings.data_dir)
    if as_json:
        _print_json(report)
        return
    kinds = sorted(set(report.added) | set(report.updated) | set(report.unchanged))
    _table(
        "reference data",
        ["records", "added", "updated", "unchanged"],
        [
            [k, report.added.get(k, 0), report.updated.get(k, 0), report.unchanged.get(k, 0)]
            for k in kinds
        ],
    )
    if not report.changed:
        _out().print("nothing changed")
    for line in report.changes[:20]:
        _out().print(Text(f"  {line}"))
    if len(report.changes) > 20:
        _out().print(f"  … and {len(report.changes) - 20} more changes (--json lists them all)")


@reference_app.command("hospitals")
def reference_hospitals(as_json: JsonOption = False) -> None:
    """List the hospitals and their ledger locations."""
    with _work(read_only=True) as session:
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
    if as_json:
        _print_json(rows)
        return
    _table(
        "hospitals",
        ["slug", "name", "city", "region", "finess"],
        [[r["slug"], r["name"], r["city"], r["region"], r["finess"]] for r in rows],
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
    with _work() as session:
        fablab = fablabs.add_fablab(
            session=session, name=name, city=city, region=region, contact=contact
        )
    _out().print(Text(f"fablab {fablab.name} added, stock location {fablab.stock_location}"))


@fablab_app.command("list")
def fablab_list(
    region: Annotated[str | None, typer.Option("--region")] = None, as_json: JsonOption = False
) -> None:
    """List fablabs."""
    with _work(read_only=True) as session:
        rows = fablabs.list_fablabs(session=session, region=region)
    if as_json:
        _print_json(rows)
        return
    _table(
        "fablabs",
        ["slug", "name", "city", "region", "contact", "stock location"],
        [[f.slug, f.name, f.city, f.region, f.contact, f.stock_location] for f in rows],
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
    item_kind = _enum(ItemKind, kind, "--kind")
    base = _enum(Unit, unit, "--unit")
    with _work() as session:
        item = catalogue.add_item(
            session=session,
            code=code,
            name=name,
            kind=item_kind,
            unit=base,
            allow_negative=allow_negative,
        )
    _out().print(Text(f"item {item.code} added ({item.kind.value}, counted in {item.unit.value})"))


@item_app.command("list")
def item_list(as_json: JsonOption = False) -> None:
    """List items."""
    with _work(read_only=True) as session:
        rows = [i.model_dump(exclude={"id"}) for i in catalogue.list_items(session=session)]
    if as_json:
        _print_json(rows)
        return
    _table(
        "items",
        ["code", "name", "kind", "unit", "allow negative"],
        [[r["code"], r["name"], r["kind"], r["unit"], r["allow_negative"]] for r in rows],
    )


@location_app.command("add")
def location_add(
    code: str,
    name: Annotated[str, typer.Option("--name")],
    kind: Annotated[str, typer.Option("--kind", help="stock, transit, scrap, supplier, partner…")],
    fablab: Annotated[str | None, typer.Option("--fablab", help="Fablab it belongs to.")] = None,
) -> None:
    """Define a location."""
    location_kind = _enum(LocationKind, kind, "--kind")
    with _work() as session:
        fablab_id = fablabs.get_fablab(session=session, name=fablab).id if fablab else None
        location = catalogue.add_location(
            session=session, code=code, name=name, kind=location_kind, fablab_id=fablab_id
        )
    _out().print(Text(f"location {location.code} added ({location.kind.value})"))


@location_app.command("list")
def location_list(
    kind: Annotated[str | None, typer.Option("--kind")] = None, as_json: JsonOption = False
) -> None:
    """List locations."""
    location_kind = _enum(LocationKind, kind, "--kind") if kind else None
    with _work(read_only=True) as session:
        rows = [
            {
                "code": loc.code,
                "name": loc.name,
                "kind": loc.kind.value,
                "virtual": loc.kind.is_virtual,
            }
            for loc in catalogue.list_locations(session=session, kind=location_kind)
        ]
    if as_json:
        _print_json(rows)
        return
    _table("locations", ["code", "name", "kind", "virtual"], [list(r.values()) for r in rows])


# --- stock ---------------------------------------------------------------------------------


def _report(change: operations.StockChange) -> None:
    posted, lot = change.posting, f" lot {change.lot}" if change.lot else ""
    _out().print(
        Text(
            f"move {posted.id}: {change.qty} {change.unit} {change.item}{lot} "
            f"{change.source} → {change.destination} ({posted.reason.value}, "
            f"{posted.doc_type}:{posted.doc_id}); {change.location} now holds "
            f"{change.balance_after} {change.unit}"
        )
    )


@stock_app.command("receive")
def stock_receive(
    item: str,
    qty: Annotated[str, typer.Argument(help="Quantity, in --unit or the item's base unit.")],
    to: Annotated[str, typer.Option("--to", help="Receiving location, e.g. fablab/<slug>.")],
    ref: Annotated[str, typer.Option("--ref", help="Supplier delivery note or invoice number.")],
    source: Annotated[str, typer.Option("--from", help="Supplier location.")] = catalogue.SUPPLIERS,
    unit: UnitOption = None,
    lot: LotOption = "",
    key: KeyOption = None,
) -> None:
    """Receive material from a supplier into a location."""
    with _work() as session:
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
            actor=_ctx().settings.actor,
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
    with _work() as session:
        change = operations.adjust(
            session=session,
            item=item,
            change=by,
            unit=unit,
            location=at,
            reason=reason,
            lot=lot,
            key=key,
            actor=_ctx().settings.actor,
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
    document = _parse_doc(doc) if doc is not None else None
    with _work() as session:
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
            actor=_ctx().settings.actor,
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
    moment = _parse_time(as_of, "--as-of")
    with _work(read_only=True) as session:
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
    if as_json:
        _print_json(rows)
        return
    title = f"stock as of {moment:%Y-%m-%d %H:%M} UTC" if moment else "stock now"
    _table(
        title,
        ["location", "item", "lot", "qty", "unit"],
        [[r.location, r.item, r.lot or "-", r.qty, r.unit] for r in rows],
    )


# --- ledger --------------------------------------------------------------------------------


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
    doc_type, _, doc_id = (doc or "").partition(":")
    where = journal.MoveFilter(
        item=item,
        location=location,
        lot=lot,
        doc_type=doc_type or None,
        doc_id=doc_id or None,
        since=_parse_time(since, "--since"),
        until=_parse_time(until, "--until"),
        posting_id=move,
        limit=limit,
    )
    with _work(read_only=True) as session:
        rows = journal.list_moves(session=session, where=where)
    if as_json:
        _print_json(rows)
        return
    _table(
        "ledger",
        [
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
        ],
        [
            [
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
            ]
            for r in rows
        ],
    )


@ledger_app.command("reverse")
def ledger_reverse(
    move_id: Annotated[int, typer.Argument(metavar="MOVE_ID", min=1, max=MAX_ID)],
    reason: Annotated[str, typer.Option("--reason", help="Why the move is cancelled.")],
) -> None:
    """Cancel a move by posting its exact opposite (the original stays in the ledger)."""
    with _work() as session:
        reversal = posting.reverse(
            session=session, posting_id=move_id, reason=reason, actor=_ctx().settings.actor
        )
    _out().print(f"move {reversal.id} reverses move {move_id}")


@ledger_app.command("check")
def ledger_check(
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Rebuild the balance cache.")] = False,
) -> None:
    """Compare the balance cache with the moves (and rebuild it on request)."""
    with _work() as session:
        if rebuild:
            count = balances.rebuild_balance_cache(session=session)
            _out().print(f"balance cache rebuilt from the moves: {count} balances")
            return
        wrong = balances.cache_discrepancies(session=session)
    if wrong:
        raise FabcoordError(
            f"balance cache differs from the moves at {len(wrong)} balances: run "
            "'fabcoord ledger check --rebuild'"
        )
    _out().print("balance cache agrees with the moves")


# --- orders: hospital access links, orders and the web server -------------------------------

MIGRATION_LOCATIONS.append(ORDERS_MIGRATIONS)
hospital_app = typer.Typer(help="Hospitals' secret order links.", no_args_is_help=True)
orders_app = typer.Typer(help="Hospital orders and their lifecycle.", no_args_is_help=True)
app.add_typer(hospital_app, name="hospital")
app.add_typer(orders_app, name="orders")
ReasonOption = Annotated[str, typer.Option("--reason", help="Why (recorded with the change).")]


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8000,
) -> None:
    """Run the web server: hospital order form, status pages and the JSON API (/api/v1)."""
    from orders import web

    context = _ctx()
    schema.require_current_schema(context.engine, MIGRATION_LOCATIONS)
    web.serve(context.settings, host=host, port=port)


@hospital_app.command("invite")
def hospital_invite(hospital: str) -> None:
    """Issue a secret order link for a hospital and print it (shown once, only its hash is kept)."""
    with _work() as session:
        invitation = order_links.invite(
            session=session, hospital=hospital, actor=_ctx().settings.actor
        )
    link = f"{_ctx().settings.public_url.rstrip('/')}/h/{invitation.token}"
    _out().print(Text(f"order link for {invitation.hospital} (shown once, keep it secret):"))
    _out().print(Text(link))


@hospital_app.command("revoke")
def hospital_revoke(hospital: str) -> None:
    """End every working order link of a hospital."""
    with _work() as session:
        count = order_links.revoke(session=session, hospital=hospital, actor=_ctx().settings.actor)
    _out().print(Text(f"{count} link(s) revoked for {hospital}"))


@orders_app.command("list")
def orders_list(
    status: Annotated[str | None, typer.Option("--status", help="received, accepted…")] = None,
    hospital: Annotated[
        str | None, typer.Option("--hospital", help="Hospital name or slug.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10000)] = 200,
    as_json: JsonOption = False,
) -> None:
    """List orders, newest first."""
    wanted = _enum(OrderStatus, status, "--status") if status else None
    with _work(read_only=True) as session:
        hospital_id = (
            reference.get_hospital(session=session, name=hospital).id if hospital else None
        )
        found = order_service.list_orders(
            session=session, hospital_id=hospital_id, status=wanted, limit=limit
        )
        rows = order_service.describe(session=session, orders=found)
    if as_json:
        _print_json([row.model_dump(mode="json", exclude={"events"}) for row in rows])
        return
    _table(
        "orders",
        ["reference", "hospital", "status", "qty", "needed by", "priority", "department"],
        [
            [
                r.reference,
                r.hospital,
                r.status.value,
                r.quantity,
                r.needed_by,
                r.priority.value,
                r.department,
            ]
            for r in rows
        ],
    )


@orders_app.command("show")
def orders_show(
    reference_: Annotated[str, typer.Argument(metavar="REF")], as_json: JsonOption = False
) -> None:
    """Show one order with its progress and its history."""
    with _work(read_only=True) as session:
        found = order_service.get_order(session=session, reference=reference_)
        (order,) = order_service.describe(session=session, orders=[found], with_events=True)
    if as_json:
        _print_json(order.model_dump(mode="json"))
        return
    fields = order.model_dump(exclude={"events"})
    _table("order", ["field", "value"], [[k, v] for k, v in fields.items()])
    _table(
        "history",
        ["time (UTC)", "from", "to", "actor", "reason"],
        [
            [
                f"{e.at:%Y-%m-%d %H:%M:%S}",
                e.from_status or "-",
                e.to_status.value,
                e.actor,
                e.reason,
            ]
            for e in order.events
        ],
    )


def _transition(reference_: str, to: OrderStatus, reason: str) -> None:
    with _work() as session:
        order = order_lifecycle.transition(
            session=session, reference=reference_, to=to, actor=_ctx().settings.actor, reason=reason
        )
    _out().print(Text(f"order {order.reference} is now {order.status.value}"))


@orders_app.command("accept")
def orders_accept(
    reference_: Annotated[str, typer.Argument(metavar="REF")], reason: ReasonOption = ""
) -> None:
    """Accept a received order."""
    _transition(reference_, OrderStatus.ACCEPTED, reason)


@orders_app.command("reject")
def orders_reject(
    reference_: Annotated[str, typer.Argument(metavar="REF")], reason: ReasonOption
) -> None:
    """Reject a received order (the reason is shown to the hospital)."""
    _transition(reference_, OrderStatus.REJECTED, reason)


@orders_app.command("cancel")
def orders_cancel(
    reference_: Annotated[str, typer.Argument(metavar="REF")], reason: ReasonOption
) -> None:
    """Cancel an order that is not shipped yet."""
    _transition(reference_, OrderStatus.CANCELLED, reason)


@orders_app.command("start")
def orders_start(
    reference_: Annotated[str, typer.Argument(metavar="REF")], reason: ReasonOption = ""
) -> None:
    """Mark a planned order as in production."""
    _transition(reference_, OrderStatus.IN_PRODUCTION, reason)


@orders_app.command("ship")
def orders_ship(
    reference_: Annotated[str, typer.Argument(metavar="REF")], reason: ReasonOption = ""
) -> None:
    """Mark an order in production as shipped to the hospital."""
    _transition(reference_, OrderStatus.SHIPPED, reason)


@orders_app.command("deliver")
def orders_deliver(
    reference_: Annotated[str, typer.Argument(metavar="REF")], reason: ReasonOption = ""
) -> None:
    """Mark a shipped order as delivered (signed for by the hospital)."""
    _transition(reference_, OrderStatus.DELIVERED, reason)


@orders_app.command("plan")
def orders_plan(
    reference_: Annotated[str, typer.Argument(metavar="REF")],
    delivery: Annotated[
        str, typer.Option("--delivery", help="Expected delivery date, YYYY-MM-DD.")
    ],
    allocated: Annotated[int | None, typer.Option("--allocated", min=1, max=100000)] = None,
    reason: ReasonOption = "",
) -> None:
    """Plan an accepted order: visors allocated and the expected delivery date."""
    moment = _parse_time(delivery, "--delivery")
    assert moment is not None
    with _work() as session:
        order = order_lifecycle.plan_order(
            session=session,
            reference=reference_,
            actor=_ctx().settings.actor,
            expected_delivery=moment.date(),
            allocated=allocated,
            reason=reason,
        )
    _out().print(
        Text(
            f"order {order.reference} planned: {order.allocated} visors by {order.expected_delivery}"
        )
    )


# --- print farm ----------------------------------------------------------------------------

printers_app = typer.Typer(help="OctoPrint printers of the farm.", no_args_is_help=True)
designs_app = typer.Typer(help="Printable designs and their G-code.", no_args_is_help=True)
farm_app = typer.Typer(help="The print queue and the dispatcher.", no_args_is_help=True)
app.add_typer(printers_app, name="printers")
app.add_typer(designs_app, name="designs")
app.add_typer(farm_app, name="farm")
app.add_typer(fabcoord.planning.commands.app)
PrinterArg = Annotated[str, typer.Argument(metavar="PRINTER", help="Printer name.")]


def _printer_rows(session: Session, printers: Sequence[Any]) -> list[registry.PrinterPublic]:
    return [spools.describe(session=session, printer=p) for p in printers]


def _parse_bed(text: str) -> tuple[int, int]:
    width, _, depth = text.lower().partition("x")
    try:
        return int(width), int(depth)
    except ValueError:
        raise InvalidInput(f"--bed {text!r} must be WIDTHxDEPTH in mm, e.g. 220x220") from None


@printers_app.command("add")
def printers_add(
    name: str,
    fablab: Annotated[str, typer.Option("--fablab", help="Fablab the printer belongs to.")],
    url: Annotated[str, typer.Option("--url", help="OctoPrint URL, e.g. http://10.0.0.7:5000.")],
    api_key_env: Annotated[
        str, typer.Option("--api-key-env", help="Environment variable holding the API key.")
    ] = "",
    api_key_file: Annotated[
        str, typer.Option("--api-key-file", help="File holding the API key.")
    ] = "",
    nozzle: Annotated[float, typer.Option("--nozzle", help="Nozzle diameter, mm.")] = 0.4,
    bed: Annotated[str, typer.Option("--bed", help="Bed size WIDTHxDEPTH, mm.")] = "220x220",
    auto_clear: Annotated[
        bool, typer.Option("--auto-clear", help="The printer clears its own bed (belt, ejector).")
    ] = False,
    check: Annotated[
        bool, typer.Option("--check/--no-check", help="Check URL and key with OctoPrint first.")
    ] = True,
) -> None:
    """Register an OctoPrint printer; the API key is read from VAR or a file, never stored."""
    width, depth = _parse_bed(bed)
    spec = registry.PrinterSpec(
        name=name,
        fablab=fablab,
        url=url,
        api_key_env=api_key_env,
        api_key_file=api_key_file,
        nozzle_mm=nozzle,
        bed_x_mm=width,
        bed_y_mm=depth,
        auto_clear=auto_clear,
    )
    spec = registry.checked_spec(spec)
    with _work(read_only=True) as session:  # refuse bad input before the network check
        registry.check_can_add(session=session, spec=spec)
    version = "not checked"
    if check:  # outside any transaction: no database lock is held during the network round trip
        key = registry.spec_api_key(spec)
        version = "OctoPrint " + asyncio.run(probe.probe(spec.url, key))
    with _work() as session:
        printer = registry.add_printer(session=session, spec=spec)
    _out().print(
        Text(
            f"printer {printer.name} added at {printer.url} ({version}), ledger location "
            f"{registry.location_code(printer.name)}"
        )
    )


@printers_app.command("list")
def printers_list(
    fablab: Annotated[str | None, typer.Option("--fablab")] = None, as_json: JsonOption = False
) -> None:
    """List printers (the API key's source is shown, never the key)."""
    with _work(read_only=True) as session:
        rows = _printer_rows(session, registry.list_printers(session=session, fablab=fablab))
    if as_json:
        _print_json(rows)
        return
    _table(
        "printers",
        ["name", "fablab", "url", "key from", "nozzle", "bed", "enabled", "auto clear"],
        [
            [
                r.name,
                r.fablab,
                r.url,
                r.api_key_source,
                r.nozzle_mm,
                r.bed_mm,
                "yes" if r.enabled else f"no {r.maintenance}".strip(),
                r.auto_clear,
            ]
            for r in rows
        ],
    )


def _status_rows(rows: Sequence[registry.PrinterPublic]) -> list[list[Any]]:
    return [
        [
            r.name,
            r.state if r.reachable or r.state == "unknown" else f"{r.state} (unreachable)",
            r.job_id or "",
            "" if r.completion is None else f"{r.completion:.0f}%",
            "" if r.time_left_s is None else f"{r.time_left_s // 60}:{r.time_left_s % 60:02d}",
            "clear" if r.bed_clear else "to clear",
            f"{r.material} {r.lot} {r.grams_left} g" if r.material else "-",
            r.notice,
        ]
        for r in rows
    ]


STATUS_COLUMNS = ["printer", "state", "job", "progress", "left", "bed", "spool", "to do"]


@printers_app.command("status")
def printers_status(
    name: Annotated[str | None, typer.Argument(metavar="[PRINTER]")] = None,
    as_json: JsonOption = False,
) -> None:
    """State, job, progress, bed and spool of each printer, as the dispatchers last saw them."""
    with _work(read_only=True) as session:
        printers = (
            [registry.get_printer(session=session, name=name)]
            if name
            else registry.list_printers(session=session)
        )
        rows = _printer_rows(session, printers)
    if as_json:
        _print_json(rows)
        return
    _table("printers", STATUS_COLUMNS, _status_rows(rows))


@printers_app.command("remove")
def printers_remove(name: PrinterArg) -> None:
    """Take a printer out of the farm (its ledger history stays)."""
    with _work() as session:
        printer = registry.remove_printer(session=session, name=name)
    _out().print(Text(f"printer {printer.name} removed"))


@printers_app.command("load")
def printers_load(
    name: PrinterArg,
    material: Annotated[str, typer.Option("--material", help="Filament item: petg, pla…")],
    lot: Annotated[str, typer.Option("--lot", help="Lot of the spool.")],
    grams: Annotated[
        int | None, typer.Option("--grams", help="Grams on the spool (default: all of the lot).")
    ] = None,
) -> None:
    """Load a spool: its grams move from the fablab's stock to the printer in the ledger."""
    with _work() as session:
        printer, loaded = spools.load_spool(
            session=session,
            name=name,
            material=material,
            lot=lot,
            grams=grams,
            actor=_ctx().settings.actor,
        )
    _out().print(
        Text(
            f"printer {printer.name}: {loaded} g of {printer.loaded_material} lot "
            f"{printer.loaded_lot} loaded"
        )
    )


@printers_app.command("unload")
def printers_unload(name: PrinterArg) -> None:
    """Take the spool off: what is left goes back to the fablab's stock."""
    with _work() as session:
        printer, left = spools.unload_spool(session=session, name=name, actor=_ctx().settings.actor)
    _out().print(Text(f"printer {printer.name}: spool unloaded, {left} g back in stock"))


@printers_app.command("enable")
def printers_enable(name: PrinterArg) -> None:
    """Let the dispatcher use the printer again."""
    with _work() as session:
        printer = registry.set_enabled(session=session, name=name, enabled=True)
    _out().print(Text(f"printer {printer.name} enabled"))


@printers_app.command("disable")
def printers_disable(
    name: PrinterArg,
    maintenance: Annotated[str, typer.Option("--maintenance", help="Why, for the others.")] = "",
) -> None:
    """Keep the dispatcher from starting prints on the printer (maintenance)."""
    with _work() as session:
        printer = registry.set_enabled(
            session=session, name=name, enabled=False, maintenance=maintenance
        )
    _out().print(Text(f"printer {printer.name} disabled"))


@designs_app.command("add")
def designs_add(
    name: str,
    gcode: Annotated[Path, typer.Option("--gcode", help="G-code file.")],
    units_per_print: Annotated[
        int, typer.Option("--units-per-print", help="Frames one print gives.")
    ],
    material: Annotated[str, typer.Option("--material", help="Filament item: petg, pla…")],
    grams: Annotated[int, typer.Option("--grams", help="Filament one print uses, g.")],
    minutes: Annotated[int, typer.Option("--minutes", help="Print time, minutes.")],
) -> None:
    """Register a design; its G-code is stored once, by content hash."""
    try:
        content = gcode.read_bytes()
    except OSError as error:
        raise InvalidInput(f"cannot read --gcode {gcode}: {error.strerror or error}") from None
    with _work() as session:
        design = designs.add_design(
            session=session,
            name=name,
            gcode=content,
            units_per_print=units_per_print,
            material=material,
            grams=grams,
            minutes=minutes,
        )
    _out().print(
        Text(
            f"design {design.name} added: {design.units_per_print} frames per print, "
            f"{design.grams} g {design.material}, file {design.file_name}"
        )
    )


@designs_app.command("list")
def designs_list(as_json: JsonOption = False) -> None:
    """List designs."""
    with _work(read_only=True) as session:
        rows = designs.list_designs(session=session)
    if as_json:
        _print_json(rows)
        return
    _table(
        "designs",
        ["name", "frames/print", "material", "g", "min", "file"],
        [[d.name, d.units_per_print, d.material, d.grams, d.minutes, d.file_name] for d in rows],
    )


@farm_app.command("enqueue")
def farm_enqueue(
    design: str,
    count: Annotated[int, typer.Option("--count", help="Number of frames wanted.")],
    order: Annotated[str, typer.Option("--order", help="Order reference.")] = "",
    fablab: Annotated[
        str | None, typer.Option("--fablab", help="Only printers of this fablab.")
    ] = None,
    priority: Annotated[int, typer.Option("--priority", help="Higher goes first.")] = 0,
    needed_by: Annotated[
        str | None, typer.Option("--needed-by", help="ISO date; earlier goes first.")
    ] = None,
) -> None:
    """Queue prints for COUNT frames (ceil(COUNT / frames per print) jobs)."""
    moment = _parse_time(needed_by, "--needed-by")
    with _work() as session:
        report = queue.enqueue(
            session=session,
            design=design,
            count=count,
            order_ref=order,
            fablab=fablab,
            priority=priority,
            needed_by=moment,
        )
    ids = report.job_ids
    span = f"{ids[0]}" if len(ids) == 1 else f"{ids[0]}-{ids[-1]}"
    _out().print(
        Text(
            f"{len(ids)} print job(s) {span} queued for {report.frames_asked} frames of "
            f"{report.design} ({report.frames_planned} frames planned)"
        )
    )


@farm_app.command("queue")
def farm_queue(
    show_all: Annotated[bool, typer.Option("--all", help="Include done and cancelled.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Jobs in dispatch order."""
    with _work(read_only=True) as session:
        rows = queue.list_jobs(session=session, include_finished=show_all)
    if as_json:
        _print_json(rows)
        return
    _table(
        "print queue",
        [
            "#",
            "design",
            "frames",
            "status",
            "prio",
            "needed by",
            "order",
            "fablab",
            "printer",
            "attempts",
            "note",
        ],
        [
            [
                j.id,
                j.design,
                j.frames,
                j.status + (" (cancel asked)" if j.cancel_requested else ""),
                j.priority,
                f"{j.needed_by:%Y-%m-%d}" if j.needed_by else "",
                j.order_ref,
                j.fablab,
                j.printer,
                j.attempts,
                j.last_error,
            ]
            for j in rows
        ],
    )


@farm_app.command("cancel")
def farm_cancel(job: Annotated[int, typer.Argument(metavar="JOB")]) -> None:
    """Cancel a job (a print under way is cancelled on its printer by the dispatcher)."""
    with _work() as session:
        row = queue.cancel_job(session=session, job_id=job)
    if row.status.value == "cancelled":
        _out().print(f"job {job} cancelled")
    else:
        _out().print(f"job {job} is {row.status.value}: the dispatcher will cancel the print")


@farm_app.command("retry")
def farm_retry(job: Annotated[int, typer.Argument(metavar="JOB")]) -> None:
    """Put a held job (one that used up its attempts) back in the queue."""
    with _work() as session:
        row = queue.retry_job(session=session, job_id=job)
        last = row.last_error
    _out().print(Text(f"job {job} back in the queue" + (f" (last error: {last})" if last else "")))


@farm_app.command("clear")
def farm_clear(name: PrinterArg) -> None:
    """Confirm that the parts were removed: the printer may take the next job."""
    with _work() as session:
        printer = registry.clear_bed(session=session, name=name)
    _out().print(Text(f"printer {printer.name}: bed clear, ready for the next job"))


@farm_app.command("run")
def farm_run(
    once: Annotated[bool, typer.Option("--once", help="One pass, then exit.")] = False,
    owner: Annotated[
        str | None, typer.Option("--owner", help="Dispatcher id in leases (default host:pid).")
    ] = None,
    lease: Annotated[float, typer.Option("--lease", help="Lease length, s.", min=1)] = 15.0,
    poll: Annotated[
        float,
        typer.Option("--poll", help="REST poll period of a printer without live push, s.", min=0.2),
    ] = 5.0,
    reconcile: Annotated[
        float,
        typer.Option(
            "--reconcile", help="REST poll period of a printer with live push, s.", min=0.2
        ),
    ] = 30.0,
    tick: Annotated[float, typer.Option("--tick", help="Pass period, s.", min=0.05)] = 0.25,
    stagger: Annotated[
        float, typer.Option("--stagger", help="Seconds between two starts.", min=0)
    ] = 0.25,
    confirm: Annotated[
        float, typer.Option("--confirm", help="Seconds for a start to show.", min=0.5)
    ] = 6.0,
    push: Annotated[bool, typer.Option("--push/--no-push", help="Follow push events.")] = True,
    max_printers: Annotated[
        int | None, typer.Option("--max-printers", help="Drive at most N printers.", min=1)
    ] = None,
    max_attempts: Annotated[
        int,
        typer.Option("--max-attempts", help="Hold a job after N failed starts/prints.", min=1),
    ] = DEFAULT_MAX_ATTEMPTS,
    live: Annotated[
        bool | None, typer.Option("--live/--no-live", help="Live view (default: on a terminal).")
    ] = None,
) -> None:
    """Dispatch queued jobs to idle printers and record every print's end in the ledger."""
    context = _ctx()
    schema.require_current_schema(context.engine, MIGRATION_LOCATIONS)
    logging.basicConfig(level=context.settings.log_level, stream=sys.stderr)
    config = dispatcher.DispatcherConfig(
        max_attempts=max_attempts,
        owner=owner or f"{socket.gethostname()}:{os.getpid()}",
        actor=context.settings.actor,
        lease_s=lease,
        poll_s=poll,
        reconcile_s=reconcile,
        tick_s=tick,
        stagger_s=stagger,
        confirm_s=confirm,
        push=push and not once,
        max_printers=max_printers,
    )
    show_live = (live if live is not None else sys.stdout.isatty()) and not once
    engine = context.engine
    with asyncio.Runner(loop_factory=dispatcher.new_event_loop) as runner:
        stats = runner.run(_dispatch(engine, config, once=once, live=show_live))
    _out().print(
        f"dispatcher {config.owner}: {stats.get('started', 0)} started, "
        f"{stats.get('done', 0)} done, {stats.get('failed', 0)} failed, "
        f"{stats.get('not_started', 0)} did not start"
    )


async def _dispatch(
    engine: Engine, config: dispatcher.DispatcherConfig, *, once: bool, live: bool
) -> dict[str, int]:
    worker = dispatcher.Dispatcher(engine, config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    if not live:
        await worker.run(once=once, stop=stop)
        return dict(worker.stats)
    with Live(_live_table(worker), console=_out(), refresh_per_second=4) as view:
        await worker.run(stop=stop, on_pass=lambda: view.update(_live_table(worker)))
    return dict(worker.stats)


def _live_table(worker: dispatcher.Dispatcher) -> Table:
    table = Table(title=f"fabcoord farm ({worker.config.owner})", title_justify="left")
    for column in ["printer", "state", "job", "progress", "left", "to do"]:
        table.add_column(column)
    for v in worker.views():
        table.add_row(
            Text(v.name),
            Text(v.state if v.reachable else f"{v.state} (unreachable)"),
            Text(str(v.job_id or "")),
            Text("" if v.completion is None else f"{v.completion:.0f}%"),
            Text(
                "" if v.time_left_s is None else f"{v.time_left_s // 60}:{v.time_left_s % 60:02d}"
            ),
            Text(v.notice),
        )
    return table


# --- entry point ---------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    """Run the CLI, translating every expected failure into one line and an exit code."""
    sys.exit(run(list(argv) if argv is not None else sys.argv[1:]))


def run(argv: list[str], command: Callable[..., Any] | None = None) -> int:
    """Run ``argv`` and return the exit code (used by ``main`` and the tests)."""
    try:
        result = (command or app)(args=argv, prog_name="fabcoord", standalone_mode=False)
    except FabcoordError as error:
        _error(str(error))
        return error.exit_code
    except click_errors.NoSuchOption as error:
        if re.fullmatch(r"-[0-9.,]+", error.option_name):
            _error(
                f"quantity {error.option_name} must be positive (to lower a balance after a "
                f"count: fabcoord stock adjust ITEM --at LOCATION --by {error.option_name})"
            )
            return 2
        _error(f"{error.format_message()} (see 'fabcoord --help')")
        return error.exit_code
    except click_errors.UsageError as error:
        command_path = error.ctx.command_path if error.ctx else "fabcoord"
        _error(f"{error.format_message()} (see '{command_path} --help')")
        return error.exit_code
    except click_errors.ClickException as error:
        _error(error.format_message())
        return error.exit_code
    except DBAPIError as error:  # last resort: a database refusal the services did not foresee
        _error(f"the database refused the operation: {str(error.orig).strip().splitlines()[0]}")
        return 2
    except typer.Abort:
        _error("aborted")
        return 130
    except typer.Exit as done:
        return int(done.exit_code)
    return int(result) if isinstance(result, int) else 0


def _error(message: str) -> None:
    one_line = " ".join(message.split())
    Console(stderr=True, highlight=False, soft_wrap=True).print(Text(f"error: {one_line}"))


if __name__ == "__main__":
    main()
