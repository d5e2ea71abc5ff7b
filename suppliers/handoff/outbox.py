"""The outbox: send and cancel commands carried out by a worker, retried with back-off.

A worker claims due commands in a short transaction (``SELECT … FOR UPDATE SKIP LOCKED`` on
PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` serialises claimers) by leasing them, talks to the partners
outside any transaction, then records each outcome:

- success: the command is done, the hand-off sent (or cancelled);
- the partner is down, slow or lost the reply (:class:`PartnerUnavailable`): tried again after a
  back-off that doubles up to a cap, for as long as it takes; the next attempt finds an order the
  lost reply created by its reference instead of creating a second one;
- the partner's server failed (:class:`PartnerServerError`): tried again, at most
  ``max_server_errors`` times;
- the partner refused (access, validation, wrong key or database): the command fails, the hand-off
  is ``refused`` with the message, and nothing is retried.

A worker that dies holding a lease loses it when ``leased_until`` passes: another worker takes the
command again, and the search by reference keeps that from creating a duplicate.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, or_
from sqlmodel import Session, col, select

from fabcoord.backoff import doubling_delay
from fabcoord.clock import utc_now
from fabcoord.db import unit_of_work
from fabcoord.errors import ConfigError
from suppliers.handoff import service
from suppliers.handoff.errors import (
    PartnerError,
    PartnerRefused,
    PartnerServerError,
    PartnerUnavailable,
)
from suppliers.handoff.models import (
    CommandState,
    Handoff,
    HandoffCommand,
    HandoffState,
    Partner,
)
from suppliers.handoff.odoo import Client, Endpoint
from suppliers.handoff.partners import endpoint_of
from suppliers.handoff.remote import OrderSpec, PartnerApi, RemoteOrder


@dataclass(frozen=True)
class Backoff:
    """Delay before attempt n+1: ``base_s * 2**(n-1)``, at most ``cap_s``."""

    base_s: float = 2.0
    cap_s: float = 300.0

    def delay(self, attempts: int) -> timedelta:
        return timedelta(seconds=doubling_delay(attempts, first_s=self.base_s, most_s=self.cap_s))


@dataclass(frozen=True)
class Job:
    """A claimed command with what is needed to carry it out without the database."""

    command_id: int
    kind: str
    handoff_id: int
    partner_id: int
    spec: OrderSpec
    remote_id: int | None


@dataclass(frozen=True)
class Outcome:
    """What became of a job; ``released``: not started (the lease ran short), given back."""

    job: Job
    order: RemoteOrder | None = None
    error: PartnerError | None = None
    released: bool = False


CALLS_PER_JOB = 9
"""The most calls one job makes on a fresh connection: log-in, search, customer search and create,
product search, its fields and create, order create, confirm."""


def lease_for(lease_s: float, timeout_s: float) -> float:
    """A lease long enough for a worker to start jobs during its first half and finish each:
    ``lease_s``, or twice the worst case of one job against the slowest partner of the batch."""
    return max(lease_s, 2 * CALLS_PER_JOB * timeout_s)


def claim(*, session: Session, now: datetime, lease_s: float, limit: int) -> list[Job]:
    """Lease up to ``limit`` due commands (oldest first) and describe them."""
    query = (
        select(HandoffCommand)
        .where(
            HandoffCommand.state == CommandState.PENDING,
            col(HandoffCommand.next_attempt_at) <= now,
            or_(col(HandoffCommand.leased_until).is_(None), col(HandoffCommand.leased_until) < now),
        )
        .order_by(col(HandoffCommand.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    commands = list(session.exec(query))
    if not commands:
        return []
    handoffs = {
        h.id: (h, p)
        for h, p in session.exec(
            select(Handoff, Partner)
            .join(Partner, col(Partner.id) == Handoff.partner_id)
            .where(col(Handoff.id).in_({c.handoff_id for c in commands}))
        )
    }
    names = {code: service.item_name(session=session, code=code) for code in {"visor"}}
    jobs = []
    slowest = max(p.timeout_s for _h, p in handoffs.values())
    until = now + timedelta(seconds=lease_for(lease_s, slowest))
    for command in commands:
        handoff, partner = handoffs[command.handoff_id]
        command.leased_until = until
        session.add(command)
        if handoff.item_code not in names:
            names[handoff.item_code] = service.item_name(session=session, code=handoff.item_code)
        jobs.append(
            Job(
                command_id=command.id or 0,
                kind=command.kind,
                handoff_id=handoff.id or 0,
                partner_id=partner.id or 0,
                spec=OrderSpec(
                    ref=handoff.ref,
                    customer=partner.customer_name,
                    product_code=handoff.item_code,
                    product_name=names[handoff.item_code],
                    quantity=handoff.quantity,
                    needed_by=handoff.needed_by,
                ),
                remote_id=handoff.remote_id,
            )
        )
    session.flush()
    return jobs


def record(
    *,
    session: Session,
    outcomes: list[Outcome],
    now: datetime,
    backoff: Backoff,
    max_server_errors: int,
) -> None:
    """Write the outcomes of carried-out jobs (one transaction for the batch)."""
    for outcome in outcomes:
        command = session.get(HandoffCommand, outcome.job.command_id)
        if command is None or command.state is not CommandState.PENDING:
            continue
        command.leased_until = None
        if outcome.released:
            session.add(command)
            continue
        command.attempts += 1
        error = outcome.error
        if error is None:
            command.state, command.finished_at, command.last_error = CommandState.DONE, now, ""
            if outcome.job.kind == "send":
                assert outcome.order is not None
                service.record_sent(
                    session=session, handoff_id=outcome.job.handoff_id, order=outcome.order
                )
            else:
                remote = outcome.order.id if outcome.order is not None else None
                service.record_cancelled(
                    session=session, handoff_id=outcome.job.handoff_id, remote_id=remote
                )
        else:
            command.last_error = str(error)[:1000]
            retry = isinstance(error, PartnerUnavailable) or (
                isinstance(error, PartnerServerError) and command.attempts < max_server_errors
            )
            handoff = service.get_handoff(session=session, handoff_id=outcome.job.handoff_id)
            handoff.last_error = command.last_error
            if retry:
                command.next_attempt_at = now + backoff.delay(command.attempts)
            else:
                command.state, command.finished_at = CommandState.FAILED, now
                if outcome.job.kind == "send":
                    handoff.state = HandoffState.REFUSED
            handoff.updated_at = now
            session.add(handoff)
        session.add(command)
    session.flush()


def carry_out(
    api: PartnerApi, job: Job, *, create_before: float | None = None
) -> RemoteOrder | None:
    """Do one job against the partner's Odoo (no database); no order is created after
    ``create_before`` (a ``time.monotonic()`` instant inside the claim's lease)."""
    if job.kind == "send":
        return api.place(job.spec, create_before=create_before)
    found = api.find_order(job.spec.ref)
    if found is not None and found.state != "cancel":
        api.cancel(found.id)
    return found


class Worker:
    """Drains the outbox: claim a batch, carry it out per partner, record the outcomes."""

    def __init__(
        self,
        engine: Engine,
        *,
        environ: Mapping[str, str],
        backoff: Backoff | None = None,
        lease_s: float = 120.0,
        batch: int = 50,
        max_server_errors: int = 5,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.engine, self.environ = engine, environ
        self.backoff = backoff or Backoff()
        self.lease_s, self.batch, self.max_server_errors = lease_s, batch, max_server_errors
        self.clock = clock
        self._apis: dict[int, PartnerApi] = {}
        self.rpc_calls = 0

    def close(self) -> None:
        for api in self._apis.values():
            self.rpc_calls += api.client.calls
            api.client.close()
        self._apis.clear()

    def _api(self, partner_id: int) -> PartnerApi:
        if partner_id not in self._apis:
            with unit_of_work(self.engine, read_only=True) as session:
                partner = session.get(Partner, partner_id)
                assert partner is not None
                endpoint: Endpoint = endpoint_of(partner, self.environ)
            self._apis[partner_id] = PartnerApi(Client(endpoint))
        return self._apis[partner_id]

    def run_once(self) -> int:
        """Carry out one batch of due commands; return how many were attempted."""
        claimed = time.monotonic()
        with unit_of_work(self.engine) as session:
            jobs = claim(session=session, now=self.clock(), lease_s=self.lease_s, limit=self.batch)
        if not jobs:
            return 0
        outcomes: list[Outcome] = []
        down: dict[int, PartnerError] = {}
        for job in jobs:
            # never start a job in the second half of the lease: another worker may take it after
            if time.monotonic() - claimed > self.lease_s / 2:
                outcomes.append(Outcome(job, released=True))
                continue
            if job.partner_id in down:  # the partner is down: do not knock again in this batch
                outcomes.append(Outcome(job, error=down[job.partner_id]))
                continue
            try:
                api = self._api(job.partner_id)
                # the last call of a create must end before the lease: a rival may claim after it
                create_before = claimed + self.lease_s - api.client.endpoint.timeout_s
                order = carry_out(api, job, create_before=create_before)
                outcomes.append(Outcome(job, order=order))
            except ConfigError as error:
                outcomes.append(Outcome(job, error=_refused(str(error))))
            except PartnerError as error:
                outcomes.append(Outcome(job, error=error))
                if isinstance(error, PartnerUnavailable):
                    down[job.partner_id] = error
                    self._drop(job.partner_id)
        with unit_of_work(self.engine) as session:
            record(
                session=session,
                outcomes=outcomes,
                now=self.clock(),
                backoff=self.backoff,
                max_server_errors=self.max_server_errors,
            )
        return len(jobs)

    def _drop(self, partner_id: int) -> None:
        api = self._apis.pop(partner_id, None)
        if api is not None:
            self.rpc_calls += api.client.calls
            api.client.close()

    def run(self, *, stop: threading.Event, idle_s: float = 1.0, until_idle: bool = False) -> int:
        """Work until ``stop`` is set (or, with ``until_idle``, until nothing is pending)."""
        done = 0
        while not stop.is_set():
            count = self.run_once()
            done += count
            if count:
                continue
            if until_idle and pending_count(self.engine) == 0:
                break
            stop.wait(idle_s)
        return done


def _refused(message: str) -> PartnerError:
    return PartnerRefused(message)


def pending_count(engine: Engine) -> int:
    with unit_of_work(engine, read_only=True) as session:
        return len(
            list(
                session.exec(
                    select(HandoffCommand.id).where(HandoffCommand.state == CommandState.PENDING)
                )
            )
        )
