"""Commands: ``fabcoord partners …`` and ``fabcoord handoff …``.

Each command parses its input, opens one unit of work, calls one service and renders. Talking to a
partner happens outside any transaction (the outbox worker and sync open their own).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from fabcoord.commands import face
from fabcoord.commands.face import MAX_ID, JsonOption
from fabcoord.errors import InvalidInput

if TYPE_CHECKING:
    from suppliers.handoff.models import Handoff


# --- options -----------------------------------------------------------------------------------

HandoffArg = Annotated[int, typer.Argument(metavar="ID", min=1, max=MAX_ID)]
# checked by the service (one line, exit 1), not by typer's bounds
VisorsPerDay = Annotated[
    int,
    typer.Option(
        "--visors-per-day",
        "--capacity-per-day",
        help="Visors a day it declared: with --city, the plan may give it volume.",
    ),
]
MinimumOrder = Annotated[int, typer.Option("--minimum-order", help="Least visors per order.")]
LeadTime = Annotated[
    int, typer.Option("--lead-time-days", help="Days before its first delivery leaves.")
]
CityOption = Annotated[
    str, typer.Option("--city", help="Where it ships from (a city of data/cities.csv).")
]
RegionOption = Annotated[
    str | None, typer.Option("--region", help="The city's region, when the name is ambiguous.")
]

app = typer.Typer()
partners_app = typer.Typer(
    help="Partner manufacturers reached through their Odoo.", no_args_is_help=True
)
handoff_app = typer.Typer(
    help="Hand volume to partner manufacturers: place, follow and receive orders in their Odoo.",
    no_args_is_help=True,
)
app.add_typer(partners_app, name="partners")
app.add_typer(handoff_app, name="handoff")


# --- partners ----------------------------------------------------------------------------------


@partners_app.command("add")
def partners_add(
    name: Annotated[str, typer.Argument(help="The partner's name.")],
    odoo_url: Annotated[str, typer.Option("--odoo-url", help="https://odoo.partner.example")],
    database: Annotated[str, typer.Option("--database", help="The partner's Odoo database.")],
    login: Annotated[str, typer.Option("--login", help="The Odoo user we log in as.")],
    api_key_env: Annotated[
        str,
        typer.Option("--api-key-env", help="NAME of the environment variable holding the API key."),
    ],
    protocol: Annotated[str, typer.Option("--protocol", help="jsonrpc, xmlrpc or json2.")] = (
        "jsonrpc"
    ),
    capacity_per_day: VisorsPerDay = 0,
    minimum_order: MinimumOrder = 0,
    lead_time_days: LeadTime = 0,
    timeout_s: Annotated[float, typer.Option("--timeout", help="Seconds per call.")] = 30.0,
    customer_name: Annotated[
        str, typer.Option("--as", help="Our organisation's name as the partner's customer.")
    ] = "fabcoord",
    city: CityOption = "",
    region: RegionOption = None,
) -> None:
    """Register a partner manufacturer (its API key stays in the environment).

    With --visors-per-day and --city it is a source of the plan ('fabcoord plan').
    """
    from suppliers.handoff import partners

    with face.work() as session:
        partner = partners.add_partner(
            session=session,
            name=name,
            odoo_url=odoo_url,
            database=database,
            login=login,
            api_key_env=api_key_env,
            protocol=protocol,
            capacity_per_day=capacity_per_day,
            minimum_order=minimum_order,
            lead_time_days=lead_time_days,
            timeout_s=timeout_s,
            customer_name=customer_name,
            city=city,
            region=region or "",
            cities=_cities() if city else None,
        )
    face.say(f"partner {partner.name} added ({partner.protocol} {partner.odoo_url})")


@partners_app.command("set")
def partners_set(
    name: Annotated[str, typer.Argument(help="The partner's name.")],
    capacity_per_day: Annotated[
        int | None,
        typer.Option(
            "--visors-per-day", "--capacity-per-day", help="Visors a day it declared (0: none)."
        ),
    ] = None,
    minimum_order: Annotated[
        int | None, typer.Option("--minimum-order", help="Least visors it takes per order.")
    ] = None,
    lead_time_days: Annotated[
        int | None, typer.Option("--lead-time-days", help="Days before its first delivery.")
    ] = None,
    city: Annotated[
        str | None, typer.Option("--city", help="Where it ships from (in the city table).")
    ] = None,
    region: RegionOption = None,
    clear_city: Annotated[
        bool,
        typer.Option("--clear-city", help="Forget its city and region (the plan leaves it out)."),
    ] = False,
    clear_region: Annotated[
        bool, typer.Option("--clear-region", help="Forget its region (the city alone places it).")
    ] = False,
) -> None:
    """Change what the plan reads of a partner: capacity, minimum order, lead time, city."""
    from suppliers.handoff import partners

    with face.work() as session:
        partner = partners.update_partner(
            session=session,
            name=name,
            capacity_per_day=capacity_per_day,
            minimum_order=minimum_order,
            lead_time_days=lead_time_days,
            city=city,
            region=region,
            cities=_cities() if city or region else None,
            clear_city=clear_city,
            clear_region=clear_region,
        )
        place = partner.city or "not set"
        if partner.region:
            place += f" ({partner.region})"
        said = (
            f"partner {partner.name}: {partner.capacity_per_day} visors a day, minimum order "
            f"{partner.minimum_order}, lead time {partner.lead_time_days} day(s), city {place}"
        )
    face.say(said)


def _cities() -> Any:
    from fabcoord.geo import CityTable

    return CityTable.load(face.context().settings.data_dir)


@partners_app.command("list")
def partners_list(as_json: JsonOption = False) -> None:
    """List partner manufacturers."""
    from suppliers.handoff import partners

    with face.work(read_only=True) as session:
        rows = partners.list_partners(session=session)
    data = [
        {
            "name": p.name,
            "odoo_url": p.odoo_url,
            "database": p.database,
            "login": p.login,
            "api_key_env": p.api_key_env,
            "protocol": p.protocol,
            "capacity_per_day": p.capacity_per_day,
            "minimum_order": p.minimum_order,
            "lead_time_days": p.lead_time_days,
            "city": p.city,
            "region": p.region,
            "odoo_version": p.odoo_version,
        }
        for p in rows
    ]
    if as_json:
        return face.print_json(data)
    columns = ["name", "odoo_url", "database", "protocol", "capacity_per_day", "minimum_order"]
    face.table(
        "Partners",
        [*columns, "lead_time_days", "city", "odoo_version"],
        [[d[c] for c in [*columns, "lead_time_days", "city", "odoo_version"]] for d in data],
    )


@partners_app.command("check")
def partners_check(
    name: Annotated[str, typer.Argument(help="The partner's name.")], as_json: JsonOption = False
) -> None:
    """Log in to the partner's Odoo; report its version and the models it has."""
    from suppliers.handoff import partners

    with face.work(read_only=True) as session:
        endpoint = partners.endpoint_of(
            partners.get_partner(session=session, name=name), os.environ
        )
    report = partners.check(endpoint)
    with face.work() as session:
        partners.record_check(session=session, name=name, report=report)
    if as_json:
        return face.print_json(
            {"partner": report.partner, "version": report.version, "models": report.models}
        )
    face.say(f"partner {report.partner}: Odoo {report.version}, login accepted")
    for model, present in report.models.items():
        face.say(f"  {model}: {'yes' if present else 'no'}")


# --- hand-offs ---------------------------------------------------------------------------------


_OPTIONAL = {"plan", "cancel_reason"}  # shown as text only when set


def _row(handoff: Handoff, partner: str) -> dict[str, Any]:
    return {
        "id": handoff.id,
        "partner": partner,
        "reference": handoff.ref,
        "item": handoff.item_code,
        "quantity": handoff.quantity,
        "delivered": handoff.delivered,
        "needed_by": handoff.needed_by.isoformat(),
        "deliver_to": handoff.destination,
        "orders": [r for r in handoff.orders.split(",") if r],
        "state": handoff.state.value,
        "odoo_order": handoff.remote_name,
        "odoo_state": handoff.remote_state,
        "by_hand": handoff.manual,
        "last_error": handoff.last_error,
        "plan": handoff.plan_id,
        "cancel_reason": handoff.cancel_reason,
    }


@handoff_app.command("create")
def handoff_create(
    partner: Annotated[str, typer.Option("--partner", help="The partner manufacturer.")],
    qty: Annotated[int | None, typer.Option("--qty", help="Visors to order.")] = None,
    needed_by: Annotated[str | None, typer.Option("--needed-by", help="YYYY-MM-DD.")] = None,
    orders: Annotated[
        str | None, typer.Option("--orders", help="Hospital orders served: REF,REF…")
    ] = None,
    lines: Annotated[
        str | None,
        typer.Option(
            "--lines",
            help="The order lines served and the units of each: REF/LINE=QTY,… (they add up to "
            "--qty, which they give when it is left out).",
        ),
    ] = None,
    from_plan: Annotated[
        bool, typer.Option("--from-plan", help="Take quantity, date and orders from the plan.")
    ] = False,
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            help="Where the partner delivers: fablab/<slug>, or hospital/<slug> (default: the "
            "hospital of the first order served).",
        ),
    ] = None,
    item: Annotated[str, typer.Option("--item", help="Item code.")] = "visor",
    force: Annotated[
        bool, typer.Option("--force", help="Accept a date inside the partner's lead time.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Record a hand-off to a partner (then "handoff send" places it)."""
    from suppliers.handoff import service
    from suppliers.handoff.partners import get_partner

    references = [r for r in (orders or "").split(",") if r.strip()]
    shares = _parse_lines(lines)
    if shares and qty is None and not from_plan:
        qty = sum(share.quantity for share in shares)
    with face.work() as session:
        get_partner(session=session, name=partner)
        when = face.parse_date(needed_by, "--needed-by")
        if from_plan:
            recommended = service.plan_recommendation(session=session)
            qty = qty if qty is not None else recommended.quantity
            when = when or recommended.needed_by
            references = references or list(recommended.references)
        if qty is None or when is None:
            raise InvalidInput("give --qty and --needed-by (or --from-plan)")
        destination = to or service.default_destination(
            session=session, references=references or [share.reference for share in shares]
        )
        created = service.create_handoff(
            session=session,
            partner=partner,
            quantity=qty,
            needed_by=when,
            destination=destination,
            actor=face.context().actor,
            orders=references,
            item_code=item,
            force=force,
            lines=shares,
        )
        row = _row(created.handoff, partner)
        row["lines"] = _lines(session, created.handoff.id or 0)
    for warning in created.warnings:
        face.say(f"warning: {warning}")
    if as_json:
        return face.print_json(row)
    face.say(
        f"hand-off {row['id']} recorded: {row['quantity']} {row['item']} from {partner} by "
        f"{row['needed_by']} to {row['deliver_to']} ('fabcoord handoff send {row['id']}')"
    )


def _parse_lines(text: str | None) -> list[Any]:
    """``REF/LINE=QTY,…`` as the service's line shares; one-line errors."""
    from suppliers.handoff.service import LineShare

    shares = []
    for part in (text or "").split(","):
        if not part.strip():
            continue
        target, _, units = part.partition("=")
        reference, _, line = target.strip().rpartition("/")
        numbers = (line.strip(), units.strip())
        if not (reference and all(n.isdecimal() and len(n) <= 12 for n in numbers)):
            raise InvalidInput(
                f"--lines: {part.strip()!r} is not REF/LINE=QTY (for example CMD-2026-000012/1=150)"
            )
        shares.append(LineShare(reference.strip(), int(line), int(units)))
    if text is not None and not shares:
        raise InvalidInput("--lines is empty: give REF/LINE=QTY,…")
    return shares


def _lines(session: Any, handoff_id: int) -> list[dict[str, Any]]:
    from suppliers.handoff import service

    return [
        {"reference": share.reference, "line": share.line, "quantity": share.quantity}
        for share in service.lines_of(session=session, handoff_id=handoff_id)
    ]


@handoff_app.command("send")
def handoff_send(handoff_id: HandoffArg) -> None:
    """Queue the hand-off for sending and try once now (the worker retries if the partner is down)."""
    from suppliers.handoff import outbox, partners, service
    from suppliers.handoff.errors import PartnerRefused
    from suppliers.handoff.models import Partner

    with face.work() as session:
        # a key missing here is our set-up, not the partner's refusal: say so, queue nothing
        handoff = service.get_handoff(session=session, handoff_id=handoff_id)
        partner = session.get(Partner, handoff.partner_id)
        if partner is not None:
            partners.endpoint_of(partner, os.environ)
        service.queue_send(session=session, handoff_id=handoff_id)
    worker = outbox.Worker(face.context().engine, environ=os.environ)
    try:
        worker.run_once()
    finally:
        worker.close()
    with face.work(read_only=True) as session:
        handoff = service.get_handoff(session=session, handoff_id=handoff_id)
    if handoff.state.value == "queued":
        face.say(
            f"hand-off {handoff_id} is queued: {handoff.last_error or 'waiting'} "
            "(the worker will retry: 'fabcoord handoff worker')"
        )
    elif handoff.state.value == "refused":
        raise PartnerRefused(f"hand-off {handoff_id} refused: {handoff.last_error}")
    else:
        # a freshly created order's name is read back by the next sync (one call fewer per send)
        remote = handoff.remote_name or f"sale.order {handoff.remote_id}"
        face.say(f"hand-off {handoff_id} is now {handoff.state.value} (Odoo {remote})")


@handoff_app.command("worker")
def handoff_worker(
    once: Annotated[bool, typer.Option("--once", help="Carry out what is due, then stop.")] = False,
    batch: Annotated[int, typer.Option("--batch", min=1, max=1000)] = 50,
) -> None:
    """Carry out queued sends and cancellations, retrying with back-off, until interrupted."""
    from suppliers.handoff import outbox

    worker = outbox.Worker(face.context().engine, environ=os.environ, batch=batch)
    stop = threading.Event()
    try:
        done = worker.run(stop=stop, until_idle=once)
    except KeyboardInterrupt:
        done = 0
    finally:
        worker.close()
    face.say(
        f"worker stopped after {done} attempt(s), {outbox.pending_count(face.context().engine)} pending"
    )


@handoff_app.command("sync")
def handoff_sync(
    handoff_id: Annotated[int | None, typer.Argument(metavar="[ID]", min=1, max=MAX_ID)] = None,
    partner: Annotated[str | None, typer.Option("--partner")] = None,
    as_json: JsonOption = False,
) -> None:
    """Read order states and deliveries back from the partners; post what was delivered."""
    from suppliers.handoff.sync import sync

    with face.work(read_only=True):
        pass  # the schema is current
    results, calls = sync(
        face.context().engine,
        environ=os.environ,
        actor=face.context().actor,
        handoff_id=handoff_id,
        partner=partner,
    )
    data = [
        {
            "id": r.handoff_id,
            "state": r.state.value,
            "odoo_state": r.remote_state,
            "delivered": r.delivered,
            "posted_now": r.posted_now,
        }
        for r in results
    ]
    if as_json:
        return face.print_json(data)
    for r in data:
        face.say(
            f"hand-off {r['id']}: {r['state']} (Odoo {r['odoo_state']}), {r['delivered']} "
            f"delivered, {r['posted_now']} posted now"
        )
    face.say(f"{len(data)} hand-off(s) synced in {calls} call(s)")


@handoff_app.command("cancel")
def handoff_cancel(handoff_id: HandoffArg) -> None:
    """Cancel a hand-off (in the partner's Odoo too, through the outbox)."""
    from suppliers.handoff import outbox, service

    with face.work() as session:
        command = service.queue_cancel(session=session, handoff_id=handoff_id)
    if command is not None:
        worker = outbox.Worker(face.context().engine, environ=os.environ)
        try:
            worker.run_once()
        finally:
            worker.close()
    with face.work(read_only=True) as session:
        handoff = service.get_handoff(session=session, handoff_id=handoff_id)
    face.say(f"hand-off {handoff_id} is now {handoff.state.value}")


@handoff_app.command("list")
def handoff_list(
    partner: Annotated[str | None, typer.Option("--partner")] = None,
    state: Annotated[str | None, typer.Option("--state")] = None,
    as_json: JsonOption = False,
) -> None:
    """List hand-offs, newest first."""
    from suppliers.handoff import service
    from suppliers.handoff.models import HandoffState

    wanted = None
    if state is not None:
        try:
            wanted = HandoffState(state.strip().lower())
        except ValueError:
            allowed = ", ".join(s.value for s in HandoffState)
            raise InvalidInput(f"--state {state!r} is not one of: {allowed}") from None
    with face.work(read_only=True) as session:
        rows = [
            _row(h, p)
            for h, p in service.list_handoffs(session=session, partner=partner, state=wanted)
        ]
    if as_json:
        return face.print_json(rows)
    columns = [
        "id",
        "partner",
        "quantity",
        "delivered",
        "needed_by",
        "deliver_to",
        "state",
        "odoo_order",
    ]
    face.table("Hand-offs", columns, [[r[c] for c in columns] for r in rows])


@handoff_app.command("show")
def handoff_show(handoff_id: HandoffArg, as_json: JsonOption = False) -> None:
    """One hand-off with its deliveries."""
    from suppliers.handoff import service
    from suppliers.handoff.models import Partner

    with face.work(read_only=True) as session:
        handoff = service.get_handoff(session=session, handoff_id=handoff_id)
        owner = session.get(Partner, handoff.partner_id)
        row = _row(handoff, owner.name if owner else "?")
        row["lines"] = _lines(session, handoff_id)
        row["deliveries"] = [
            {"source": r.source, "name": r.name, "state": r.state, "posted": r.posted}
            for r in service.receipts_of(session=session, handoff_id=handoff_id)
        ]
    if as_json:
        return face.print_json(row)
    for key, value in row.items():
        if key == "lines":
            served = [f"{x['reference']}/{x['line']}: {x['quantity']}" for x in value]
            face.say(
                "lines: "
                + (", ".join(served) or "not recorded (counted over its orders' lines in order)")
            )
        elif key != "deliveries" and (value not in (None, "") or key not in _OPTIONAL):
            face.say(f"{key}: {value}")
    for delivery in row["deliveries"]:
        face.say(f"  {delivery['name']} ({delivery['state']}): {delivery['posted']} received")


@handoff_app.command("export")
def handoff_export(
    handoff_id: HandoffArg,
    to: Annotated[Path, typer.Option("--to", help="Folder to write the PDF and CSV into.")] = Path(
        "."
    ),
) -> None:
    """Write the order as a PDF purchase order and a CSV (for partners without API access).

    A draft an accepted plan recorded becomes yours: a later plan no longer replaces it."""
    from suppliers.handoff import export, service

    with face.work() as session:
        service.keep_exported(session=session, handoff_id=handoff_id)
        order = export.purchase_order(session=session, handoff_id=handoff_id)
        pdf, csv_path = export.write(order, to)  # a failure here keeps the draft the plan's
    face.say(f"wrote {pdf} and {csv_path}")


@handoff_app.command("confirm")
def handoff_confirm(
    handoff_id: HandoffArg,
    partner_ref: Annotated[
        str, typer.Option("--partner-ref", help="The partner's order number.")
    ] = "",
) -> None:
    """Record that the partner confirmed an order sent by hand (after "handoff export")."""
    from suppliers.handoff import service

    with face.work() as session:
        handoff = service.confirm_by_hand(
            session=session, handoff_id=handoff_id, partner_reference=partner_ref
        )
    face.say(f"hand-off {handoff_id} is now {handoff.state.value} (confirmed by hand)")


@handoff_app.command("receive")
def handoff_receive(
    handoff_id: HandoffArg,
    qty: Annotated[int, typer.Option("--qty", help="Units the partner delivered.")],
    ref: Annotated[str, typer.Option("--ref", help="The delivery note's number.")] = "",
) -> None:
    """Record a delivery the partner reports by hand; post it into the ledger."""
    from suppliers.handoff import service

    with face.work() as session:
        result = service.receive_by_hand(
            session=session,
            handoff_id=handoff_id,
            quantity=qty,
            actor=face.context().actor,
            reference=ref,
        )
    face.say(
        f"hand-off {handoff_id}: {result.posted_now} received, {result.delivered} in all, "
        f"now {result.state.value}"
    )
