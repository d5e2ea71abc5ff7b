"""Order intake's commands: ``hospital`` (secret order links), ``orders`` and ``serve``.

Mounted by ``cli.py`` with ``app.add_typer(orders.commands.app)``. Services are imported inside
each command; the web stack only by ``serve``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fabcoord.commands import face
from fabcoord.commands.face import JsonOption, ReasonOption

app = typer.Typer()
hospital_app = typer.Typer(help="Hospitals' secret order links.", no_args_is_help=True)
orders_app = typer.Typer(help="Hospital orders and their lifecycle.", no_args_is_help=True)
site_app = typer.Typer(help="A hospital's delivery sites.", no_args_is_help=True)
hospital_app.add_typer(site_app, name="site")
app.add_typer(hospital_app, name="hospital")
app.add_typer(orders_app, name="orders")
RefArgument = Annotated[str, typer.Argument(metavar="REF")]


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8000,
) -> None:
    """Run the web server: hospital order form, status pages and the JSON API (/api/v1); queued
    e-mails are sent on a thread beside it (when FABCOORD_SMTP_URL is set)."""
    from orders import mail_worker, web

    face.require_schema()
    settings = face.context().settings
    thread, stop = mail_worker.start(settings)
    try:
        web.serve(settings, host=host, port=port)
    finally:
        stop.set()
        thread.join(timeout=30)


@hospital_app.command("invite")
def hospital_invite(
    hospital: str,
    for_: Annotated[
        str,
        typer.Option("--for", help='Whom the link is for: "Camille Martin <camille@chu.fr>".'),
    ] = "",
    expires: Annotated[
        str | None, typer.Option("--expires", help="How long it works: 90d, 12w, 48h.")
    ] = None,
) -> None:
    """Issue a secret order link for one person at a hospital and print it (shown once, only its
    hash is kept); everything done through it is recorded as theirs."""
    from orders import links

    lifetime = links.parse_expiry(expires) if expires is not None else None
    settings = face.context().settings
    with face.work() as session:
        invitation = links.invite(
            session=session,
            hospital=hospital,
            actor=face.context().actor,
            person=for_,
            expires_in=lifetime,
        )
    link = f"{settings.public_url.rstrip('/')}/h/{invitation.token}"
    whom = f" for {invitation.person}" if invitation.person else ""
    face.say(f"order link for {invitation.hospital}{whom} (shown once, keep it secret):")
    face.say(link)
    until = f"{invitation.expires_at:%Y-%m-%d %H:%M} UTC" if invitation.expires_at else "revoked"
    face.say(f"hint {invitation.hint}; works until {until}")
    if warning := links.plain_http_warning(settings.public_url):
        typer.echo(f"warning: {warning}", err=True)


@hospital_app.command("links")
def hospital_links(
    hospital: Annotated[str | None, typer.Argument()] = None, as_json: JsonOption = False
) -> None:
    """List order links (hint, person, created, last used, expiry), newest first."""
    from orders import links

    with face.work(read_only=True) as session:
        rows = links.list_links(session=session, hospital=hospital)

    def when(moment: object) -> str:
        return f"{moment:%Y-%m-%d %H:%M}" if moment is not None else "-"

    face.listing(
        "order links (times UTC)",
        ["hint", "hospital", "person", "created", "last used", "expires", "revoked"],
        rows,
        lambda r: [
            r.hint,
            r.hospital,
            r.person or "-",
            when(r.created_at),
            when(r.last_used_at),
            when(r.expires_at),
            when(r.revoked_at),
        ],
        as_json=as_json,
        data=[
            {
                "hint": r.hint,
                "hospital": r.hospital,
                "person": r.person,
                "created_at": r.created_at.isoformat(),
                "last_used_at": r.last_used_at.isoformat() if r.last_used_at else None,
                "expires_at": r.expires_at.isoformat() if r.expires_at else None,
                "revoked_at": r.revoked_at.isoformat() if r.revoked_at else None,
            }
            for r in rows
        ],
    )


@hospital_app.command("revoke")
def hospital_revoke(
    hospital: Annotated[str | None, typer.Argument()] = None,
    link: Annotated[
        str | None, typer.Option("--link", help="The hint of the one link to end.")
    ] = None,
) -> None:
    """End one order link (--link HINT), or every working link of a hospital."""
    from fabcoord.errors import InvalidInput
    from orders import links

    if (hospital is None) == (link is None):
        raise InvalidInput("give either a hospital (every link) or --link HINT (one link)")
    with face.work() as session:
        if link is not None:
            row = links.revoke_link(session=session, hint=link, actor=face.context().actor)
            face.say(f"link {row.hint} of {row.hospital} ({row.person or 'no person'}) revoked")
            return
        assert hospital is not None
        count = links.revoke(session=session, hospital=hospital, actor=face.context().actor)
    face.say(f"{count} link(s) revoked for {hospital}")


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
    from fabcoord import reference
    from orders import service
    from orders.models import OrderStatus

    wanted = face.parse_enum(OrderStatus, status, "--status") if status else None
    with face.work(read_only=True) as session:
        hospital_id = (
            reference.get_hospital(session=session, name=hospital).id if hospital else None
        )
        found = service.list_orders(
            session=session, hospital_id=hospital_id, status=wanted, limit=limit
        )
        rows = service.describe(session=session, orders=found)
    face.listing(
        "orders",
        ["reference", "hospital", "status", "qty", "needed by", "priority", "department"],
        rows,
        lambda r: [
            r.reference,
            r.hospital,
            r.status.value,
            r.quantity,
            r.needed_by,
            r.priority.value,
            r.department,
        ],
        as_json=as_json,
        data=[row.model_dump(mode="json", exclude={"events"}) for row in rows],
    )


@orders_app.command("show")
def orders_show(
    reference_: RefArgument,
    as_json: JsonOption = False,
    pdf: Annotated[
        Path | None, typer.Option("--pdf", help="Write the printable order to this file.")
    ] = None,
) -> None:
    """Show one order with its progress and its history (or write it as a PDF)."""
    from orders import service
    from orders.schemas import PARIS

    with face.work(read_only=True) as session:
        found = service.get_order(session=session, reference=reference_)
        (order,) = service.describe(session=session, orders=[found], with_events=True)
    if pdf is not None:
        from fabcoord.errors import InvalidInput
        from orders.pdf import order_pdf

        try:
            pdf.write_bytes(order_pdf(order))
        except OSError as error:
            raise InvalidInput(f"cannot write {pdf}: {error.strerror}") from None
        face.say(f"order {order.reference} written to {pdf}")
        return
    if as_json:
        face.print_json(order.model_dump(mode="json"))
        return
    fields = order.model_dump(exclude={"events"})
    face.table("order", ["field", "value"], [[k, v] for k, v in fields.items()])
    face.table(
        "history",
        ["time (Europe/Paris)", "from", "to", "actor", "reason"],
        [
            [
                f"{e.at.astimezone(PARIS):%Y-%m-%d %H:%M:%S}",
                e.from_status or "-",
                e.to_status.value,
                e.actor,
                e.reason,
            ]
            for e in order.events
        ],
    )


def _transition(reference_: str, to: str, reason: str) -> None:
    from orders import lifecycle
    from orders.models import OrderStatus

    with face.work() as session:
        order = lifecycle.transition(
            session=session,
            reference=reference_,
            to=OrderStatus(to),
            actor=face.context().actor,
            reason=reason,
        )
    face.transition("order", order.reference, order.status.value)
    _shown(reason)


def _shown(reason: str) -> None:
    """Say that a reason is not an internal note: the hospital reads it word for word."""
    if reason.strip():
        face.say(
            f"the reason is shown to the hospital on its order page: {' '.join(reason.split())!r}"
        )


@orders_app.command("accept")
def orders_accept(reference_: RefArgument, reason: ReasonOption = "") -> None:
    """Accept a received order."""
    _transition(reference_, "accepted", reason)


@orders_app.command("reject")
def orders_reject(reference_: RefArgument, reason: ReasonOption) -> None:
    """Reject a received order (the reason is shown to the hospital)."""
    _transition(reference_, "rejected", reason)


@orders_app.command("cancel")
def orders_cancel(reference_: RefArgument, reason: ReasonOption) -> None:
    """Cancel an order that is not shipped yet."""
    _transition(reference_, "cancelled", reason)


@orders_app.command("start")
def orders_start(reference_: RefArgument, reason: ReasonOption = "") -> None:
    """Mark a planned order as in production."""
    _transition(reference_, "in_production", reason)


@orders_app.command("ship")
def orders_ship(reference_: RefArgument, reason: ReasonOption = "") -> None:
    """Mark an order in production as shipped to the hospital."""
    _transition(reference_, "shipped", reason)


@orders_app.command("deliver")
def orders_deliver(reference_: RefArgument, reason: ReasonOption = "") -> None:
    """Mark a shipped order as delivered (signed for by the hospital)."""
    _transition(reference_, "delivered", reason)


@orders_app.command("plan")
def orders_plan(
    reference_: RefArgument,
    delivery: Annotated[
        str, typer.Option("--delivery", help="Expected delivery date, YYYY-MM-DD.")
    ],
    allocated: Annotated[int | None, typer.Option("--allocated")] = None,
    reason: ReasonOption = "",
) -> None:
    """Plan an accepted order: visors allocated and the expected delivery date (the reason, if
    any, is shown to the hospital)."""
    from orders import lifecycle

    moment = face.parse_time(delivery, "--delivery")
    assert moment is not None
    with face.work() as session:
        order = lifecycle.plan_order(
            session=session,
            reference=reference_,
            actor=face.context().actor,
            expected_delivery=moment.date(),
            allocated=allocated,
            reason=reason,
        )
    face.say(
        f"order {order.reference} planned: {order.allocated} visors by {order.expected_delivery}"
    )
    _shown(reason)


@orders_app.command("replan")
def orders_replan(
    reference_: RefArgument,
    delivery: Annotated[
        str, typer.Option("--delivery", help="New expected delivery date, YYYY-MM-DD.")
    ],
    reason: ReasonOption,
    allocated: Annotated[int | None, typer.Option("--allocated")] = None,
) -> None:
    """Move a planned (or in production) order's delivery date; the reason is shown to the
    hospital."""
    from orders import lifecycle

    moment = face.parse_time(delivery, "--delivery")
    assert moment is not None
    with face.work() as session:
        order = lifecycle.replan_order(
            session=session,
            reference=reference_,
            actor=face.context().actor,
            expected_delivery=moment.date(),
            reason=reason,
            allocated=allocated,
        )
    face.say(f"order {order.reference} re-planned: delivery expected {order.expected_delivery}")
    _shown(reason)


@site_app.command("add")
def site_add(
    hospital: str,
    name: str,
    address: Annotated[str, typer.Option("--address", help="Street address.")],
    postal_code: Annotated[str, typer.Option("--postal-code")] = "",
    city: Annotated[str, typer.Option("--city")] = "",
    contact: Annotated[str, typer.Option("--contact", help="Who receives, phone.")] = "",
) -> None:
    """Add a delivery site to a hospital (offered on its order form)."""
    from orders import sites

    with face.work() as session:
        site = sites.add_site(
            session=session,
            hospital=hospital,
            name=name,
            address=address,
            postal_code=postal_code,
            city=city,
            contact=contact,
            actor=face.context().actor,
        )
        text = sites.label(site)
    face.say(f"site {site.id} added: {text}")


@site_app.command("list")
def site_list(hospital: str, as_json: JsonOption = False) -> None:
    """A hospital's delivery sites."""
    from fabcoord import reference
    from orders import sites

    with face.work(read_only=True) as session:
        record = reference.get_hospital(session=session, name=hospital)
        rows = [
            sites.public(s) for s in sites.sites_of(session=session, hospital_id=record.id or 0)
        ]
    face.listing(
        f"sites of {record.name}",
        ["id", "name", "address", "postal code", "city", "contact"],
        rows,
        lambda r: [r.id, r.name, r.address, r.postal_code, r.city, r.contact],
        as_json=as_json,
        data=[row.model_dump(mode="json") for row in rows],
    )


@site_app.command("remove")
def site_remove(hospital: str, site: str) -> None:
    """Stop offering a site (by number or name); orders already placed keep it."""
    from orders import sites

    with face.work() as session:
        found = sites.remove_site(session=session, hospital=hospital, site=site)
    face.say(f"site {found.id} ({found.name}) is no longer offered to {hospital}")


@site_app.command("seed")
def site_seed() -> None:
    """Add the CHU sites of the reference data (data/chu_sites.csv, each with its source)."""
    from orders import sites

    with face.work() as session:
        added = sites.seed_sites(
            session=session,
            data_dir=face.context().settings.data_dir,
            actor=face.context().actor,
        )
    face.say(f"{added} site(s) added")


@orders_app.command("mail")
def orders_mail(
    send: Annotated[
        bool, typer.Option("--send", help="Send what is queued now, waiting ones too.")
    ] = False,
    state: Annotated[
        str | None, typer.Option("--state", help="pending, sent, failed or dropped.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10000)] = 50,
    as_json: JsonOption = False,
) -> None:
    """List the e-mail outbox, newest first (attempts, last error); --send flushes it now."""
    from orders import mail_worker
    from orders.mail_models import MailState

    context = face.context()
    if send:
        face.require_schema()
        if not mail_worker.enabled(context.settings):
            from fabcoord.errors import ConfigError

            raise ConfigError("e-mails are off: set FABCOORD_SMTP_URL and FABCOORD_MAIL_FROM")
        done = mail_worker.Pass()
        while True:  # batches until nothing is left to try in this run
            batch = mail_worker.run_once(
                engine=context.engine, settings=context.settings, everything=True
            )
            for name in ("sent", "retried", "failed", "dropped"):
                setattr(done, name, getattr(done, name) + getattr(batch, name))
            done.errors += batch.errors
            if batch.attempted < mail_worker.BATCH or batch.retried:
                break
        face.say(
            f"{done.sent} sent, {done.retried} to retry, {done.failed} failed, "
            f"{done.dropped} without recipient"
            + (f"; last error: {done.errors[-1]}" if done.errors else "")
        )
        return
    wanted = face.parse_enum(MailState, state, "--state") if state else None
    with face.work(read_only=True) as session:
        rows = mail_worker.pending(session=session, limit=limit, state=wanted)
        references = _references(session, {row.order_id for row in rows})
    if not as_json and not mail_worker.enabled(context.settings):
        face.say(mail_worker.OFF)
    face.listing(
        "e-mail outbox (times UTC)",
        ["#", "order", "kind", "to", "state", "attempts", "queued", "last error"],
        rows,
        lambda r: [
            r.id,
            references.get(r.order_id, ""),
            r.kind,
            r.to_address or "(managers)",
            r.state.value,
            r.attempts,
            f"{r.created_at:%Y-%m-%d %H:%M}",
            r.last_error,
        ],
        as_json=as_json,
        data=[
            r.model_dump(mode="json", exclude={"body", "leased_until"})
            | {"reference": references.get(r.order_id, "")}
            for r in rows
        ],
    )


def _references(session: object, ids: set[int]) -> dict[int, str]:
    from sqlmodel import Session, col, select

    from orders.models import Order

    assert isinstance(session, Session)
    query = select(Order.id, Order.reference).where(col(Order.id).in_(ids))
    return {order_id: reference for order_id, reference in session.exec(query) if order_id}
