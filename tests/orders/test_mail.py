"""E-mail notifications: queued with the order change, sent through a real SMTP relay on
127.0.0.1 (aiosmtpd) by the worker, retried while the relay is down."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlmodel import select

from fabcoord.clock import utc_now
from fabcoord.config import Settings, load_settings, parse_smtp_url
from fabcoord.db import unit_of_work
from fabcoord.errors import ConfigError
from fabcoord.events import Event, Subscribers
from orders import handlers, lifecycle, links, mail_worker, service
from orders.mail_models import MailState, OrderMail
from orders.models import Order, OrderEvent, OrderStatus
from orders.schemas import OrderCreate, today
from tests.orders.conftest import HOSPITAL, valid_order
from tests.orders.smtp_relay import Relay, free_port
from tests.orders.test_model import hospital_id

PERSON = "camille.martin@chu-poitiers.fr"
MANAGERS = "anne@fablab.example, bruno@fablab.example"


@pytest.fixture
def relay() -> Iterator[Relay]:
    server = Relay()
    server.start()
    yield server
    server.stop()


def mail_settings(settings: Settings, url: str | None) -> Settings:
    return Settings(
        database_url=settings.database_url,
        data_dir=settings.data_dir,
        actor="tester",
        smtp_url=url,  # type: ignore[arg-type]
        mail_from="fabcoord <noreply@fabcoord.example>" if url else None,
        manager_emails=MANAGERS,
    )


def person_link(engine: Engine) -> int:
    with unit_of_work(engine) as session:
        links.invite(
            session=session, hospital=HOSPITAL, actor="t", person=f"Camille Martin <{PERSON}>"
        )
    with unit_of_work(engine, read_only=True) as session:
        from orders.models import HospitalLink

        return session.exec(select(HospitalLink.id)).all()[-1] or 0


def place(engine: Engine, link_id: int | None = None, **changes: Any) -> str:
    with unit_of_work(engine) as session:
        order, _ = service.create_order(
            session=session,
            hospital_id=hospital_id(engine),
            order=OrderCreate.model_validate(valid_order(**changes)),
            actor="tester",
            channel="api",
            link_id=link_id,
        )
        return order.reference


def outbox(engine: Engine) -> list[OrderMail]:
    with unit_of_work(engine, read_only=True) as session:
        return list(session.exec(select(OrderMail).order_by(OrderMail.id)))  # type: ignore[arg-type]


def test_a_new_order_mails_the_person_of_the_link_and_the_managers(
    reference_loaded: Engine, settings: Settings, relay: Relay
) -> None:
    ref = place(reference_loaded, person_link(reference_loaded), purchase_order="BC-2026-417")
    done = mail_worker.run_once(
        engine=reference_loaded, settings=mail_settings(settings, relay.url)
    )
    assert (done.sent, done.retried, done.failed) == (2, 0, 0)
    hospital, managers = relay.inbox.received
    assert hospital.recipients == [PERSON]
    subject = " ".join(str(hospital.message["Subject"]).split())  # unfolded
    assert subject == f"Commande {ref} (votre bon de commande BC-2026-417) : reçue"
    assert hospital.message["From"] == "fabcoord <noreply@fabcoord.example>"
    assert "bien été reçue" in hospital.body and "BC-2026-417" in hospital.body
    assert "250 × Visière de protection, adulte" in hospital.body
    assert "/h/" not in hospital.body and "http" not in hospital.body  # never the secret link
    assert managers.recipients == ["anne@fablab.example", "bruno@fablab.example"]
    assert ref in str(managers.message["Subject"]) and "Afflux de patients" in managers.body
    assert relay.inbox.logins == ["fabcoord"]  # the URL's user and escaped password
    assert {m.state for m in outbox(reference_loaded)} == {MailState.SENT}
    assert (
        mail_worker.run_once(
            engine=reference_loaded, settings=mail_settings(settings, relay.url)
        ).attempted
        == 0
    )  # sent once


def test_acceptance_planning_shipment_and_delivery_mail_the_hospital(
    reference_loaded: Engine, settings: Settings, relay: Relay
) -> None:
    ref = place(reference_loaded, person_link(reference_loaded))
    subscribers = Subscribers()
    handlers.subscribe(subscribers)
    with unit_of_work(reference_loaded) as session:
        lifecycle.accept_order(session=session, reference=ref, actor="anne", reason="ok")
    with unit_of_work(reference_loaded) as session:
        when = today() + timedelta(days=10)
        lifecycle.plan_order(session=session, reference=ref, actor="anne", expected_delivery=when)
    for kind, payload in (
        ("shipment_posted", {"shipment": "SHP-1", "quantity": 250, "fully_shipped": True}),
        ("receipt_confirmed", {"shipment": "SHP-1", "received": 250, "fully_delivered": True}),
    ):
        with unit_of_work(reference_loaded) as session:
            event = Event(kind, "farm", {"reference": ref, "refused": 0, **payload})
            subscribers.publish(session=session, event=event)
    kinds = [m.kind for m in outbox(reference_loaded)]
    assert kinds == ["created", "new_order", "accepted", "planned", "shipped", "delivered"]
    mail_worker.run_once(engine=reference_loaded, settings=mail_settings(settings, relay.url))
    to_hospital = [r for r in relay.inbox.received if r.recipients == [PERSON]]
    subjects = [str(r.message["Subject"]).rsplit(": ", 1)[1].strip() for r in to_hospital]
    assert subjects == ["reçue", "acceptée", "planifiée", "expédiée", "livrée"]
    assert f"Livraison prévue : {when:%d/%m/%Y}" in to_hospital[2].body
    assert "SHP-1" in to_hospital[3].body


def test_a_receipt_before_any_shipment_mails_delivered_once_not_shipped_too(
    reference_loaded: Engine,
) -> None:
    ref = place(reference_loaded, person_link(reference_loaded))
    subscribers = Subscribers()
    handlers.subscribe(subscribers)
    with unit_of_work(reference_loaded) as session:
        lifecycle.accept_order(session=session, reference=ref, actor="anne", reason="ok")
    with unit_of_work(reference_loaded) as session:
        payload = {"reference": ref, "refused": 0, "received": 250, "fully_delivered": True}
        subscribers.publish(session=session, event=Event("receipt_confirmed", "farm", payload))
    kinds = [m.kind for m in outbox(reference_loaded)]
    assert kinds == ["created", "new_order", "accepted", "delivered"]
    with unit_of_work(reference_loaded, read_only=True) as session:
        steps = session.exec(
            select(OrderEvent.to_status).join(Order).where(Order.reference == ref)
        ).all()
    assert OrderStatus.SHIPPED in steps  # the step is recorded, only not mailed


def test_without_a_person_the_site_contact_then_the_orders_contact_is_mailed(
    reference_loaded: Engine,
) -> None:
    place(reference_loaded)  # a link for the whole hospital (none here): the order's contact
    assert outbox(reference_loaded)[0].to_address == "claire.martin@chu-poitiers.fr"


def test_a_relay_that_is_down_keeps_the_order_and_a_later_attempt_sends(
    reference_loaded: Engine, settings: Settings
) -> None:
    down = Relay(free_port())
    ref = place(reference_loaded)
    configured = mail_settings(settings, down.url)
    done = mail_worker.run_once(engine=reference_loaded, settings=configured)
    assert (done.sent, done.retried) == (0, 2) and "unreachable" in done.errors[0]
    first = outbox(reference_loaded)
    assert all(m.attempts == 1 and "unreachable" in m.last_error for m in first)
    assert all(m.state is MailState.PENDING and m.next_attempt_at > utc_now() for m in first)
    assert mail_worker.run_once(engine=reference_loaded, settings=configured).attempted == 0
    down.start()
    try:
        later = utc_now() + timedelta(minutes=5)
        done = mail_worker.run_once(engine=reference_loaded, settings=configured, now=later)
    finally:
        down.stop()
    assert done.sent == 2 and len(down.inbox.received) == 2
    assert ref in str(down.inbox.received[0].message["Subject"])
    assert [(m.state, m.attempts) for m in outbox(reference_loaded)] == [(MailState.SENT, 2)] * 2


def test_a_recipient_refused_for_good_fails_without_retry(
    reference_loaded: Engine, settings: Settings, relay: Relay
) -> None:
    relay.inbox.refuse.add("claire.martin@chu-poitiers.fr")
    place(reference_loaded)
    done = mail_worker.run_once(
        engine=reference_loaded, settings=mail_settings(settings, relay.url)
    )
    assert (done.sent, done.failed) == (1, 1)
    refused = outbox(reference_loaded)[0]
    assert refused.state is MailState.FAILED and "550" in refused.last_error


def test_a_message_unsent_for_days_fails_instead_of_leaving_late(
    reference_loaded: Engine, settings: Settings, relay: Relay
) -> None:
    place(reference_loaded)
    later = utc_now() + timedelta(days=4)
    done = mail_worker.run_once(
        engine=reference_loaded, settings=mail_settings(settings, relay.url), now=later
    )
    assert done.attempted == 0 and relay.inbox.received == []
    assert all("not sent within 3 days" in m.last_error for m in outbox(reference_loaded))


def test_without_smtp_settings_mails_are_queued_and_nothing_is_sent(
    reference_loaded: Engine, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    place(reference_loaded)
    off = mail_settings(settings, None)
    assert mail_worker.run_once(engine=reference_loaded, settings=off).attempted == 0
    assert {m.state for m in outbox(reference_loaded)} == {MailState.PENDING}
    stop = threading.Event()
    stop.set()
    with caplog.at_level(logging.WARNING, logger="orders.mail_worker"):
        mail_worker.run(off, stop)
    assert [r.getMessage() for r in caplog.records] == [mail_worker.OFF]


def test_the_mails_are_written_in_the_transaction_of_the_order(reference_loaded: Engine) -> None:
    with pytest.raises(RuntimeError), unit_of_work(reference_loaded) as session:
        service.create_order(
            session=session,
            hospital_id=hospital_id(reference_loaded),
            order=OrderCreate.model_validate(valid_order()),
            actor="tester",
            channel="api",
        )
        assert len(list(session.exec(select(OrderMail)))) == 2
        raise RuntimeError("the request fails after the order was written")
    with reference_loaded.connect() as connection:
        for table in ("hospital_order", "order_mail"):
            assert connection.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one() == 0


def test_a_refused_transition_queues_no_mail(reference_loaded: Engine) -> None:
    ref = place(reference_loaded)
    with pytest.raises(Exception, match="cannot become"), unit_of_work(reference_loaded) as s:
        lifecycle.mark_delivered(session=s, reference=ref, actor="anne")
    assert len(outbox(reference_loaded)) == 2


@pytest.mark.postgresql_only
def test_two_workers_never_claim_the_same_mail(reference_loaded: Engine, backend: str) -> None:
    place(reference_loaded)
    policy, now = mail_worker.Policy(), utc_now()
    with unit_of_work(reference_loaded) as first:
        mine = mail_worker.claim(session=first, now=now, policy=policy, limit=1)
        with unit_of_work(reference_loaded) as second:
            theirs = mail_worker.claim(session=second, now=now, policy=policy, limit=10)
    assert len(mine) == 1 and len(theirs) == 1 and mine[0].mail_id != theirs[0].mail_id
    with unit_of_work(reference_loaded) as third:  # both leased: nothing left to claim
        assert mail_worker.claim(session=third, now=now, policy=policy, limit=10) == []


def test_mails_left_when_the_claim_runs_out_are_released_untried(
    reference_loaded: Engine, settings: Settings, relay: Relay
) -> None:
    place(reference_loaded)
    policy, now = mail_worker.Policy(), utc_now()
    with unit_of_work(reference_loaded) as session:
        due = mail_worker.claim(session=session, now=now, policy=policy, limit=10)
    configured = mail_settings(settings, relay.url)
    assert configured.mail_from is not None
    connection = mail_worker.Relay(parse_smtp_url(relay.url), configured.mail_from)
    with connection:
        outcomes = mail_worker.send(connection, due, ["chef@fablab.fr"], until=0.0)
    assert relay.inbox.received == [] and all(o.untried for o in outcomes)
    with unit_of_work(reference_loaded) as session:
        done = mail_worker.record(session=session, outcomes=outcomes, now=now, policy=policy)
    assert (done.sent, done.retried, done.failed) == (0, 0, 0)
    assert [(m.state, m.attempts, m.leased_until) for m in outbox(reference_loaded)] == [
        (MailState.PENDING, 0, None)
    ] * len(due)


def test_smtp_settings_are_validated() -> None:
    relay = parse_smtp_url("smtp://u:p%40ss@mail.example:2525?starttls=1")
    assert (relay.host, relay.port, relay.security, relay.password) == (
        "mail.example",
        2525,
        "starttls",
        "p@ss",
    )
    assert parse_smtp_url("smtps://mail.example").port == 465
    assert "p@ss" not in repr(relay)
    for url, message in (
        ("http://mail.example", "smtp://"),
        ("smtp://mail.example?tls=1", "unknown option"),
        ("smtps://mail.example?starttls=1", "already encrypted"),
    ):
        with pytest.raises(ConfigError, match=message):
            load_settings(smtp_url=url, mail_from="a@b.fr")
    with pytest.raises(ConfigError, match="MAIL_FROM is required"):
        load_settings(smtp_url="smtp://mail.example")
    with pytest.raises(ConfigError, match="not an e-mail address"):
        load_settings(manager_emails="anne@fablab.example, bruno")
    settings = load_settings(manager_emails=" anne@a.fr ; bruno@b.fr ,")
    assert settings.manager_addresses == ("anne@a.fr", "bruno@b.fr")
