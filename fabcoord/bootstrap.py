"""Bringing a database to a working state: schema at the newest revision, standard catalogue."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from fabcoord.db import unit_of_work
from fabcoord.ledger.catalogue import seed_standard_catalogue
from fabcoord.schema import init_schema


@dataclass(frozen=True)
class InitReport:
    before: frozenset[str]
    after: frozenset[str]
    seeded: int

    @property
    def state(self) -> str:
        if not self.before:
            return "created"
        return "already current" if self.before == self.after else "upgraded"


def initialise_database(engine: Engine, version_locations: Sequence[Path] = ()) -> InitReport:
    """Create or upgrade the schema and add the standard items and locations; idempotent."""
    before, after = init_schema(engine, version_locations)
    with unit_of_work(engine) as session:
        seeded = seed_standard_catalogue(session=session)
    return InitReport(frozenset(before), frozenset(after), seeded)
