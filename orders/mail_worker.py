"""The e-mail sender: drains the outbox (:class:`OrderMail`) off the request path.

A pass claims due messages in a short transaction (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so
several workers share the queue; on SQLite, ``BEGIN IMMEDIATE`` serialises claimers: run one
worker) by leasing them, talks to the relay outside any transaction, then records each outcome:
sent; refused for good (failed, not retried); or the relay unavailable (tried again after a
back-off that doubles up to a cap). A message still unsent ``max_age`` after it was queued
fails instead of leaving late. Without ``FABCOORD_SMTP_URL`` messages stay queued, unsent.

``run(settings, stop)`` is the long-running part (``fabcoord serve`` runs it on a thread, a
supervisor may run it too); ``run_once`` is one pass.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine, or_
from sqlmodel import Session, col, select

from fabcoord.backoff import doubling_delay
from fabcoord.clock import utc_now
from fabcoord.config import Settings, parse_smtp_url
from fabcoord.db import unit_of_work
from fabcoord.errors import FabcoordError
from orders.mail_models import Audience, MailState, OrderMail
from orders.smtp import MailRefused, MailUnavailable, Relay

log = logging.getLogger(__name__)
BATCH = 50
OFF = "e-mails are off (FABCOORD_SMTP_URL unset): notifications are queued, not sent"


@dataclass(frozen=True)
class Policy:
    """Back-off before attempt n+1 (``base_s * 2**(n-1)``, at most ``cap_s``), the longest a
    message may wait, and how long a claim holds messages."""

    base_s: float = 30.0
    cap_s: float = 1800.0
    max_age: timedelta = timedelta(days=3)
    lease_s: float = 300.0

    def delay(self, attempts: int) -> timedelta:
        return timedelta(seconds=doubling_delay(attempts, first_s=self.base_s, most_s=self.cap_s))


@dataclass(frozen=True)
class Due:
    """A claimed message, with what is needed to send it without the database."""

    mail_id: int
    audience: Audience
    to_address: str
    subject: str
    body: str


@dataclass(frozen=True)
class Outcome:
    due: Due
    error: str = ""  # why it was not sent (or, when sent, the recipients refused)
    sent: bool = False
    final: bool = False  # the error is for good: do not retry
    dropped: bool = False  # nobody to send it to
    untried: bool = False  # not attempted in this pass (its claim was running out): just released


@dataclass
class Pass:
    """What one pass did."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    dropped: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def attempted(self) -> int:
        return self.sent + self.retried + self.failed + self.dropped


def enabled(settings: Settings) -> bool:
    """Whether e-mails are sent (an SMTP relay is configured)."""
    return settings.smtp_url is not None


def claim(
    *, session: Session, now: datetime, policy: Policy, limit: int, everything: bool = False
) -> list[Due]:
    """Lease up to ``limit`` due messages, oldest first (``everything``: waiting ones too); those
    queued longer than ``policy.max_age`` fail unsent."""
    query = (
        select(OrderMail)
        .where(
            OrderMail.state == MailState.PENDING,
            or_(col(OrderMail.leased_until).is_(None), col(OrderMail.leased_until) < now),
        )
        .order_by(col(OrderMail.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if not everything:
        query = query.where(col(OrderMail.next_attempt_at) <= now)
    due: list[Due] = []
    until = now + timedelta(seconds=policy.lease_s)
    for mail in session.exec(query):
        if mail.created_at < now - policy.max_age:
            mail.state, mail.last_error = MailState.FAILED, _stale(policy, mail.last_error)
        else:
            mail.leased_until = until
            due.append(Due(mail.id or 0, mail.audience, mail.to_address, mail.subject, mail.body))
        session.add(mail)
    session.flush()
    return due


def record(*, session: Session, outcomes: Sequence[Outcome], now: datetime, policy: Policy) -> Pass:
    """Write what became of the claimed messages."""
    done = Pass()
    for outcome in outcomes:
        mail = session.get(OrderMail, outcome.due.mail_id, with_for_update=True)
        if mail is None or mail.state is not MailState.PENDING:
            continue
        mail.leased_until = None
        if outcome.untried:
            session.add(mail)
            continue
        mail.attempts += 1
        mail.last_error = outcome.error[:1000]
        if outcome.dropped:
            mail.state = MailState.DROPPED
            done.dropped += 1
        elif outcome.sent:
            mail.state, mail.sent_at = MailState.SENT, now
            done.sent += 1
        elif outcome.final:
            mail.state = MailState.FAILED
            done.failed += 1
        elif mail.created_at + policy.max_age < now:
            mail.state, mail.last_error = MailState.FAILED, _stale(policy, mail.last_error)
            done.failed += 1
        else:
            mail.next_attempt_at = now + policy.delay(mail.attempts)
            done.retried += 1
        if outcome.error:
            done.errors.append(outcome.error)
        session.add(mail)
    session.flush()
    return done


def send(
    relay: Relay, due: Sequence[Due], managers: Sequence[str], *, until: float = math.inf
) -> list[Outcome]:
    """Send the claimed messages (no database); once the relay is unavailable, the rest of the
    batch waits for the next attempt without knocking again. Past ``until`` (monotonic; well
    before the claim's lease ends, so that no other worker can have claimed them) the rest are
    left untried."""
    outcomes: list[Outcome] = []
    down = ""
    for mail in due:
        to = list(managers) if mail.audience is Audience.MANAGERS else [mail.to_address]
        to = [address for address in to if address]
        if time.monotonic() >= until:
            outcomes.append(Outcome(mail, untried=True))
        elif not to:
            outcomes.append(Outcome(mail, "no recipient (FABCOORD_MANAGER_EMAILS)", dropped=True))
        elif down:
            outcomes.append(Outcome(mail, down))
        else:
            try:
                refused = relay.send(to, mail.subject, mail.body)
            except MailRefused as error:
                outcomes.append(Outcome(mail, str(error), final=True))
            except MailUnavailable as error:
                down = str(error)
                outcomes.append(Outcome(mail, down))
            else:
                partly = f"refused by the relay: {', '.join(refused)}" if refused else ""
                outcomes.append(Outcome(mail, partly, sent=True))
    return outcomes


def run_once(
    *,
    engine: Engine,
    settings: Settings,
    policy: Policy | None = None,
    limit: int = BATCH,
    everything: bool = False,
    now: datetime | None = None,
) -> Pass:
    """One pass: claim due messages, send them, record the outcomes; nothing when e-mails are off.

    Args:
        everything: send the messages waiting for their next attempt too (a manual flush).
    """
    policy = policy or Policy()
    if settings.smtp_url is None or settings.mail_from is None:
        return Pass()
    claimed = time.monotonic()
    with unit_of_work(engine) as session:
        due = claim(
            session=session,
            now=now or utc_now(),
            policy=policy,
            limit=limit,
            everything=everything,
        )
    if not due:
        return Pass()
    relay = parse_smtp_url(settings.smtp_url.get_secret_value())
    with Relay(relay, settings.mail_from) as connection:
        # a send can take up to two timeouts (connect, then send): stop while the lease holds
        until = claimed + policy.lease_s / 2 - 2 * connection.timeout_s
        outcomes = send(connection, due, settings.manager_addresses, until=until)
    with unit_of_work(engine) as session:
        return record(session=session, outcomes=outcomes, now=now or utc_now(), policy=policy)


def run(
    settings: Settings,
    stop: threading.Event,
    *,
    poll_s: float = 5.0,
    policy: Policy | None = None,
    engine: Engine | None = None,
) -> None:
    """Send queued e-mails until ``stop`` is set, a pass every ``poll_s`` (at once again after a
    full batch). Without a relay, says so once and waits for ``stop``. Each distinct error is
    logged once in a row."""
    if not enabled(settings):
        log.warning(OFF)
        stop.wait()
        return
    own = engine is None
    if engine is None:
        from fabcoord.db import make_engine

        engine = make_engine(settings)
    last = ""
    try:
        while not stop.is_set():
            try:
                done = run_once(engine=engine, settings=settings, policy=policy)
                problem = done.errors[-1] if done.errors else ""
            except FabcoordError as error:  # the database is away: try again next pass
                done, problem = Pass(), f"database: {error}"
            if problem and problem != last:
                log.warning("e-mail: %s", problem)
            last = problem
            if done.attempted < BATCH:
                stop.wait(poll_s)
    finally:
        if own:
            engine.dispose()


def start(settings: Settings, *, poll_s: float = 5.0) -> tuple[threading.Thread, threading.Event]:
    """Run :func:`run` on a daemon thread; set the event and join the thread to stop it."""
    stop = threading.Event()
    thread = threading.Thread(
        target=run, args=(settings, stop), kwargs={"poll_s": poll_s}, name="mail", daemon=True
    )
    thread.start()
    return thread, stop


def pending(
    *, session: Session, limit: int = 200, state: MailState | None = None
) -> list[OrderMail]:
    """The outbox's messages, newest first (only ``state``'s when given)."""
    query = select(OrderMail)
    if state is not None:
        query = query.where(OrderMail.state == state)
    return list(session.exec(query.order_by(col(OrderMail.id).desc()).limit(limit)))


def _stale(policy: Policy, last_error: str) -> str:
    days = policy.max_age.total_seconds() / 86400
    text = f"not sent within {days:g} days"
    return f"{text} (last error: {last_error})"[:1000] if last_error else text
