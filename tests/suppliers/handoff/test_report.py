"""The hand-offs' contribution to the weekly report: per partner and item, what was ordered from
partners and what they delivered in the week; and the hand-off volume of the key figures."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine

from fabcoord import fablabs
from fabcoord.config import Settings
from fabcoord.db import unit_of_work
from fabcoord.ledger import catalogue
from fabcoord.ledger import posting as posting_module
from fabcoord.ledger.models import MoveReason
from fabcoord.ledger.posting import Leg, PostingRequest, post
from fabcoord.reference import load_reference_data
from fabcoord.reports.providers import ProviderRegistry
from fabcoord.reports.weekly import ReportRequest, WeeklyReport, build
from suppliers.handoff import report as handoff_report
from suppliers.handoff.models import Handoff, HandoffState, Partner

NOW = datetime(2026, 12, 7, 5, 0, tzinfo=UTC)
PARTNER = "Plastiques de l'Ouest"
USINES, POITIERS = "fablab/fablab-des-usines", "hospital/chu-de-poitiers"


def utc(*when: int) -> datetime:
    return datetime(*when, tzinfo=UTC)  # type: ignore[misc]


def weekly(engine: Engine, week: str, **request: str) -> WeeklyReport:
    registry = ProviderRegistry()
    registry.register("handoff", handoff_report.figures)
    with unit_of_work(engine, read_only=True) as session:
        return build(
            session=session,
            request=ReportRequest(week=week, **request),
            database_url="sqlite://",
            now=NOW,
            registry=registry,
        )


def partners(result: WeeklyReport) -> dict[str, tuple[object, object]]:
    table = result.figures.suppliers
    return {r.name: (r.ordered, r.received) for r in table.itertuples() if r.kind == "partner"}


def handed_off(result: WeeklyReport) -> tuple[float, float]:
    row = result.figures.key.set_index("figure").loc["handed_off"]
    return row["value"], row["previous"]


@pytest.fixture
def handoffs(engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """Times UTC; 2026-W47 runs from 15 Nov 23:00 to 22 Nov 23:00.

    - H1: 1000 visors for Fablab des Usines, placed 17 Nov (W47); 300 delivered 19 Nov (W47), 200
      on 24 Nov (W48);
    - H2: 500, recorded 18 Nov and still a draft (not ordered);
    - H3: 400 for CHU de Poitiers, placed 10 Nov (W46); 150 delivered 20 Nov (W47).
    """
    with unit_of_work(engine) as session:
        load_reference_data(session=session, data_dir=settings.data_dir)
        fablabs.add_fablab(session=session, name="Fablab des Usines", city="Ligugé", region="Nouvelle-Aquitaine")  # fmt: skip
        partner = Partner(name=PARTNER, odoo_url="http://127.0.0.1:9", database="d", login="l", api_key_env="K", protocol="jsonrpc", created_at=utc(2026, 11, 1))  # fmt: skip
        session.add(partner)
        session.flush()
        ids = []
        for qty, destination, state, created in (
            (1000, USINES, HandoffState.PARTIAL, utc(2026, 11, 17, 9)),
            (500, USINES, HandoffState.DRAFT, utc(2026, 11, 18, 9)),
            (400, POITIERS, HandoffState.PARTIAL, utc(2026, 11, 10, 9)),
        ):
            handoff = Handoff(partner_id=partner.id or 0, item_code="visor", quantity=qty, needed_by=date(2026, 12, 31), destination=destination, state=state, created_by="t", created_at=created, updated_at=created)  # fmt: skip
            session.add(handoff)
            session.flush()
            ids.append(handoff.id)
    for handoff_id, destination, qty, when in (
        (ids[0], USINES, 300, utc(2026, 11, 19, 9)),
        (ids[2], POITIERS, 150, utc(2026, 11, 20, 9)),
        (ids[0], USINES, 200, utc(2026, 11, 24, 9)),
    ):
        monkeypatch.setattr(posting_module, "utc_now", lambda when=when: when)
        with unit_of_work(engine) as session:
            post(session=session, request=PostingRequest(reason=MoveReason.HANDOFF, doc_type="handoff", doc_id=str(handoff_id), actor="t", legs=(Leg("visor", catalogue.PARTNERS, -qty), Leg("visor", destination, qty))))  # fmt: skip
    monkeypatch.undo()
    return engine


def test_ordered_from_and_delivered_by_partners_in_the_week(handoffs: Engine) -> None:
    """W47: ordered 1000 (H1; H2 is a draft, H3 was placed in W46); delivered 300 + 150."""
    result = weekly(handoffs, "2026-W47")
    assert partners(result) == {PARTNER: (1000, 450)}
    assert handed_off(result) == (450, 0)
    assert partners(weekly(handoffs, "2026-W48")) == {PARTNER: (0, 200)}


def test_a_fablab_counts_only_what_partners_brought_to_it(handoffs: Engine) -> None:
    """Fablab des Usines: H1 only; H3 went to a hospital."""
    result = weekly(handoffs, "2026-W47", fablab="Fablab des Usines")
    assert partners(result) == {PARTNER: (1000, 300)}
    assert handed_off(result) == (300, 0)


def test_without_the_provider_the_ledger_total_stands_in(handoffs: Engine) -> None:
    with unit_of_work(handoffs, read_only=True) as session:
        result = build(session=session, request=ReportRequest(week="2026-W47"), database_url="sqlite://", now=NOW, registry=ProviderRegistry())  # fmt: skip
    assert partners(result) == {"(livraisons des partenaires)": (None, 450)}
