"""Helpers that build realistic ledger states for tests."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from sqlalchemy import Engine, inspect, text

import cli
from fabcoord.db import unit_of_work
from fabcoord.ledger import catalogue
from fabcoord.ledger.models import LocationKind, MoveReason, Posting
from fabcoord.ledger.posting import Leg, PostingRequest, post, transfer

LEDGER_TABLES = ("posting", "stock_move", "stock_balance")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def add_stock_location(engine: Engine, code: str | None = None) -> str:
    code = code or unique("shelf")
    with unit_of_work(engine) as session:
        catalogue.add_location(session=session, code=code, name=code, kind=LocationKind.STOCK)
    return code


def receive(
    engine: Engine, *, item: str, qty: int, to: str, lot: str = "", key: str | None = None
) -> Posting:
    with unit_of_work(engine) as session:
        return post(
            session=session,
            request=PostingRequest(
                reason=MoveReason.RECEIPT,
                doc_type="receipt",
                doc_id=unique("BL"),
                legs=transfer(
                    item=item, qty=qty, source=catalogue.SUPPLIERS, destination=to, lot=lot
                ),
                actor="tester",
                idempotency_key=key,
            ),
        )


def move_request(
    *, item: str, qty: int, source: str, destination: str, lot: str = "", key: str | None = None
) -> PostingRequest:
    return PostingRequest(
        reason=MoveReason.TRANSFER,
        doc_type="transfer",
        doc_id=unique("TR"),
        legs=transfer(item=item, qty=qty, source=source, destination=destination, lot=lot),
        actor="tester",
        idempotency_key=key,
    )


def legs(*specs: tuple[str, str, int]) -> tuple[Leg, ...]:
    return tuple(Leg(item, location, qty) for item, location, qty in specs)


def ledger_snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the ledger tables, to prove that a failed operation changed nothing."""
    with engine.connect() as connection:
        return {
            table: [
                tuple(row) for row in connection.execute(text(f"SELECT * FROM {table} ORDER BY id"))
            ]
            for table in LEDGER_TABLES
        }


def database_snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of the schema, to prove that a refused operation changed nothing
    at all (not only the ledger: no half-written job, printer, order or event row either)."""
    with engine.connect() as connection:
        tables = inspect(connection).get_table_names()
        return {
            table: sorted(
                (tuple(row) for row in connection.execute(text(f'SELECT * FROM "{table}"'))),
                key=lambda row: [(value is None, str(value)) for value in row],
            )
            for table in tables
        }


class Runner:
    """Runs ``fabcoord --db URL …`` in process and keeps stdout, stderr and the exit code."""

    def __init__(self, url: str, capsys: pytest.CaptureFixture[str]) -> None:
        self.url, self.capsys = url, capsys

    def __call__(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = cli.run(["--db", self.url, "--actor", "tester", *args])
        out, err = self.capsys.readouterr()
        return code, out, err

    def ok(self, *args: str) -> str:
        code, out, err = self(*args)
        assert code == 0, err
        return out

    def json(self, *args: str) -> object:
        return json.loads(self.ok(*args, "--json"))
