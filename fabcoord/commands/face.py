"""What every command module shares: the context, the unit of work, and the way results look.

A command parses its input, opens one unit of work, calls one service and renders with the helpers
here, so every group looks and behaves alike. Nothing here imports the database layer or rich at
import time: ``fabcoord --help`` stays fast however many command modules are mounted.

The helpers:

- ``context()`` the running command's :class:`AppContext` (``.settings``, ``.engine``, ``.actor``)
- ``work(read_only=False)`` one unit of work on a schema checked to be current; yields a Session
- ``say(text)`` one line of output, never read as rich markup
- ``listing(title, columns, rows, cells, as_json=…, data=None)`` a table, or JSON with ``--json``
- ``table(title, columns, rows)`` and ``print_json(data)`` the two halves of ``listing``
- ``transition(noun, name, state)`` the line that reports a state change: "order X is now Y"
- ``parse_time``, ``parse_doc``, ``parse_enum`` input checks raising ``InvalidInput``
- ``JsonOption``, ``ReasonOption``, ``UnitOption``, ``MAX_ID`` options and bounds shared by the groups
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from fabcoord.errors import InvalidInput

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table
    from sqlalchemy import Engine
    from sqlmodel import Session

    from fabcoord.config import Settings

MAX_ID = 2**31 - 1  # record numbers are 32-bit integers in the database

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
ReasonOption = Annotated[str, typer.Option("--reason", help="Why (recorded with the change).")]
UnitOption = Annotated[str | None, typer.Option("--unit", help="g, kg, mm, m, pcs, sheet…")]

Row = TypeVar("Row")
E = TypeVar("E", bound=Enum)


@dataclasses.dataclass
class AppContext:
    """Settings from the global options, and an engine made on first use."""

    settings: Settings
    _engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            from fabcoord.db import make_engine

            self._engine = make_engine(self.settings)
        return self._engine

    @property
    def actor(self) -> str:
        """Who is recorded on postings and state changes (``--actor``, default ``$USER``)."""
        return self.settings.actor

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


_CONTEXT: ContextVar[AppContext] = ContextVar("fabcoord_cli_context")


def enter(settings: Settings) -> AppContext:
    """Make the context of this run (called once, by the root's global options)."""
    context = AppContext(settings)
    _CONTEXT.set(context)
    return context


def context() -> AppContext:
    """The running command's context."""
    return _CONTEXT.get()


def require_schema() -> None:
    """Refuse to go on unless the database's schema is current (one cheap query)."""
    from fabcoord.schema import migration_locations, require_current_schema

    require_current_schema(context().engine, migration_locations())


@contextmanager
def work(*, read_only: bool = False) -> Iterator[Session]:
    """One unit of work (one transaction) on a database whose schema is current."""
    from fabcoord.db import unit_of_work

    require_schema()
    with unit_of_work(context().engine, read_only=read_only) as session:
        yield session


def out() -> Console:
    """The console for results: whole lines when piped."""
    from rich.console import Console

    wide = None if sys.stdout.isatty() else 200  # pipes and logs get whole lines
    return Console(highlight=False, soft_wrap=True, width=wide)


def say(message: str) -> None:
    """Print one line; user data in it is never read as rich markup."""
    from rich.text import Text

    out().print(Text(message))


def transition(noun: str, name: str, state: str) -> None:
    """Report a state change the same way in every group: ``order R-1 is now accepted``."""
    say(f"{noun} {name} is now {state}")


def print_json(data: Any) -> None:
    """Print ``data`` as JSON (dataclasses, pydantic models, datetimes and sets included)."""

    def encode(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return dataclasses.asdict(value)
        if hasattr(value, "model_dump"):  # a pydantic or SQLModel model
            return value.model_dump()
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, set | frozenset):
            return sorted(value, key=str)
        return str(value)

    sys.stdout.write(json.dumps(data, default=encode, ensure_ascii=False, indent=2) + "\n")


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print a table; quantities and numbers are right-aligned."""
    out().print(build_table(title, columns, rows))


def build_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    """The table ``table`` prints (for live views that redraw it)."""
    from rich.table import Table
    from rich.text import Text

    result = Table(title=title, title_justify="left")
    for column in columns:
        result.add_column(column, justify="right" if column in {"qty", "move", "#"} else "left")
    for row in rows:  # Text(): user data is never read as rich markup
        result.add_row(*(Text("" if value is None else str(value)) for value in row))
    return result


def listing(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Row],
    cells: Callable[[Row], Sequence[Any]],
    *,
    as_json: bool,
    data: Any = None,
) -> None:
    """Show ``rows``: as JSON with ``--json`` (``data`` if given, else the rows themselves), else
    as a table whose row for each element is ``cells(element)``."""
    if as_json:
        print_json(rows if data is None else data)
        return
    table(title, columns, [cells(row) for row in rows])


def parse_time(text: str | None, option: str) -> datetime | None:
    """An ISO date or time (UTC when it has no offset), or None."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(
            f"{option} {text!r} is not an ISO date or time (2020-04-01T12:00)"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_date(text: str | None, option: str) -> date | None:
    """An ISO calendar date (``2026-04-20``), or None."""
    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"{option} {text!r} is not a date (2026-04-20)") from None


def parse_doc(text: str) -> tuple[str, str]:
    """A causing document ``TYPE:ID``."""
    doc_type, _, doc_id = text.partition(":")
    if not doc_type.strip() or not doc_id.strip():
        raise InvalidInput(f"--doc {text!r} must be TYPE:ID, for example receipt:BL-2020-118")
    return doc_type.strip(), doc_id.strip()


def parse_enum(kind: type[E], value: str, option: str) -> E:
    """A member of ``kind`` by its value, case-insensitive."""
    try:
        return kind(value.strip().lower())
    except ValueError:
        allowed = ", ".join(str(member.value) for member in kind)
        raise InvalidInput(f"{option} {value!r} is not one of: {allowed}") from None
