"""Figures the capability packages contribute to the reports, without the core importing them.

The core computes what the ledger and its own tables hold. Each capability package that keeps
figures of its own (the orders' promised dates, the print farm's printers and their hours) gives a
:data:`Provider`, and the composition root registers it::

    reports.providers.register("orders", orders.report.figures)

A provider answers, for one :class:`Scope`, a mapping of table names to rows (plain dicts). The
core knows these names and merges them into its own tables; any other name is printed as a table
of its own, titled by the provider's ``title`` key when it gives one:

- ``hospitals``: ``hospital_id`` and any of ``ordered`` (visors ordered as of the week's end: when
  given, it and ``needed_by`` replace the core's demand lines, which stand as of now),
  ``needed_by`` and ``expected_delivery`` (dates), ``oldest_open`` (UTC datetime of the oldest
  order open at the week's end), ``orders_received`` (orders received in the week);
- ``ordered_cumulative``: ``week_start`` (date, a Monday), ``ordered`` (visors ordered by the end
  of that week, as the orders stood then);
- ``fablabs``: ``fablab_id`` and any of ``printers``, ``printing_hours``, ``utilisation`` (0–1);
- ``capacity_weekly``: ``week_start``, ``capacity`` (frames the scope's printers can print a week);
- ``suppliers``: ``kind`` (``supplier`` or ``partner``), ``name``, ``item``, ``unit``, ``ordered``
  (ordered in the week), ``received`` (received in the week), ``open`` (ordered, not received,
  at the week's end).

A provider must not write; the report reads inside one transaction that is rolled back. A section
whose provider is absent, or answers no rows, is printed as "no data", never as an error.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Protocol

from fabcoord.reports.week import Week

if TYPE_CHECKING:
    from sqlmodel import Session

Rows = Sequence[Mapping[str, Any]]


@dataclass(frozen=True)
class Scope:
    """What a report covers: a week, the weeks of its trend charts, and which fablabs and hospitals.

    ``fablab_ids`` / ``hospital_ids``: None means all of them.
    """

    week: Week
    trend_weeks: tuple[Week, ...]
    fablab_ids: frozenset[int] | None
    hospital_ids: frozenset[int] | None
    now: datetime

    @property
    def start(self) -> datetime:
        return self.week.start

    @property
    def end(self) -> datetime:
        return self.week.end

    @property
    def trend_start(self) -> date:
        return self.trend_weeks[0].monday


class Provider(Protocol):
    def __call__(self, *, session: Session, scope: Scope) -> Mapping[str, Rows]: ...


class ProviderRegistry:
    """Named providers; registering a name twice replaces the first.

    A provider may be registered as ``"package.module:function"``: it is imported only when a
    report is made, so the composition root pays nothing for it at start-up.
    """

    def __init__(self) -> None:
        self._providers: dict[str, Provider | str] = {}

    def register(self, name: str, provider: Provider | str) -> None:
        self._providers[name] = provider

    def unregister(self, name: str) -> None:
        self._providers.pop(name, None)

    def __iter__(self) -> Iterator[tuple[str, Provider]]:
        for name, provider in sorted(self._providers.items()):
            yield name, _resolve(provider)

    def __contains__(self, name: object) -> bool:
        return name in self._providers


providers = ProviderRegistry()


def collect(
    *, session: Session, scope: Scope, registry: ProviderRegistry | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Every provider's rows, table by table (rows of one name from several providers join)."""
    tables: dict[str, list[dict[str, Any]]] = {}
    for _, provider in registry or providers:
        for name, rows in provider(session=session, scope=scope).items():
            tables.setdefault(name, []).extend(dict(row) for row in rows)
    return tables


def _resolve(provider: Provider | str) -> Provider:
    if not isinstance(provider, str):
        return provider
    module, _, attribute = provider.partition(":")
    found: Provider = getattr(importlib.import_module(module), attribute)
    return found
