"""The core's view of hospital demand, the documents that serve it, and in-process events."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from fabcoord import demand, events
from fabcoord.config import PROJECT_DATA_DIR
from fabcoord.db import unit_of_work
from fabcoord.errors import FabcoordError, InvalidInput
from fabcoord.records import Hospital
from fabcoord.reference import load_reference_data


@pytest.fixture
def hospital_id(engine: Engine) -> int:
    with unit_of_work(engine) as session:
        load_reference_data(session=session, data_dir=PROJECT_DATA_DIR)
    with unit_of_work(engine, read_only=True) as session:
        hospital = session.exec(select(Hospital)).first()
        assert hospital is not None and hospital.id is not None
        return hospital.id


def _publish(session: Session, hospital_id: int, state: demand.DemandState, **kw: object) -> None:
    demand.publish(
        session=session,
        reference="CMD-2026-000001",
        hospital_id=hospital_id,
        lines=kw["lines"]  # type: ignore[arg-type]
        if "lines" in kw
        else [demand.LineSpec(1, "visor", 300), demand.LineSpec(2, "visor-frame", 50)],
        needed_by=date(2026, 12, 20),
        state=state,
        status=state.value,
        priority=2,
        site="Hôtel-Dieu, Nantes",
    )


def test_published_lines_are_read_back_and_republishing_updates_them(
    engine: Engine, hospital_id: int
) -> None:
    with unit_of_work(engine) as session:
        _publish(session, hospital_id, demand.DemandState.PENDING)
    with unit_of_work(engine) as session:
        _publish(
            session, hospital_id, demand.DemandState.OPEN, lines=[demand.LineSpec(1, "visor", 400)]
        )
    with unit_of_work(engine, read_only=True) as session:
        lines = demand.lines_of(session=session, reference="CMD-2026-000001")
        assert [(x.line, x.item_code, x.quantity, x.state) for x in lines] == [
            (1, "visor", 400, demand.DemandState.OPEN),
            (2, "visor-frame", 0, demand.DemandState.OPEN),
        ]
        assert [x.line for x in demand.open_lines(session=session, item_code="visor")] == [1]


def test_work_is_refused_for_unknown_pending_or_closed_orders(
    engine: Engine, hospital_id: int
) -> None:
    with (
        unit_of_work(engine, read_only=True) as session,
        pytest.raises(demand.UnknownDemand, match="unknown order"),
    ):
        demand.require_open(session=session, reference="CMD-404")
    for state in (demand.DemandState.PENDING, demand.DemandState.CLOSED):
        with unit_of_work(engine) as session:
            _publish(session, hospital_id, state)
        with (
            unit_of_work(engine, read_only=True) as session,
            pytest.raises(demand.DemandClosed, match="takes no new work"),
        ):
            demand.require_open(session=session, reference="CMD-2026-000001")


def test_a_document_links_once_and_is_found_from_both_sides(
    engine: Engine, hospital_id: int
) -> None:
    with unit_of_work(engine) as session:
        _publish(session, hospital_id, demand.DemandState.OPEN)
    for _ in range(2):
        with unit_of_work(engine) as session:
            demand.link(
                session=session,
                doc_type="print_job",
                doc_id="42",
                reference="CMD-2026-000001",
                line=2,
            )
    with unit_of_work(engine, read_only=True) as session:
        served = demand.documents_serving(session=session, references=["CMD-2026-000001"])
        assert [(d.doc_type, d.doc_id, d.line) for d in served] == [("print_job", "42", 2)]
        assert [
            d.reference
            for d in demand.demand_of(session=session, doc_type="print_job", doc_id="42")
        ] == ["CMD-2026-000001"]


def test_an_order_without_lines_is_refused(engine: Engine, hospital_id: int) -> None:
    with unit_of_work(engine) as session, pytest.raises(InvalidInput, match="no lines"):
        _publish(session, hospital_id, demand.DemandState.OPEN, lines=[])  # type: ignore[list-item]


def test_event_handlers_run_in_the_publishers_transaction_and_can_refuse() -> None:
    heard: list[str] = []
    subscribers = events.Subscribers()

    def note(*, session: Session, event: events.Event) -> None:
        heard.append(event.payload["reference"])

    def refuse(*, session: Session, event: events.Event) -> None:
        raise FabcoordError("refused by a handler")

    subscribers.subscribe("production_started", note)
    subscribers.subscribe("production_started", note)
    event = events.Event("production_started", "tester", {"reference": "CMD-1"})
    subscribers.publish(session=None, event=event)  # type: ignore[arg-type]
    assert heard == ["CMD-1"]
    subscribers.subscribe("production_started", refuse)
    with pytest.raises(FabcoordError, match="refused by a handler"):
        subscribers.publish(session=None, event=event)  # type: ignore[arg-type]


def test_delivered_counts_linked_documents_at_the_ordering_hospital_net_of_reversals(
    engine: Engine, hospital_id: int
) -> None:
    from fabcoord.ledger import catalogue, posting
    from fabcoord.ledger.models import MoveReason
    from fabcoord.reference import hospital_location_code

    with unit_of_work(engine) as session:
        _publish(session, hospital_id, demand.DemandState.OPEN)
        hospital = session.get(Hospital, hospital_id)
        assert hospital is not None
        where = hospital_location_code(hospital.slug)
        demand.link(
            session=session, doc_type="handoff", doc_id="7", reference="CMD-2026-000001", line=1
        )
        delivered = posting.post(
            session=session,
            request=posting.PostingRequest(
                reason=MoveReason.HANDOFF,
                doc_type="handoff",
                doc_id="7",
                legs=posting.transfer(
                    item="visor", qty=300, source=catalogue.PARTNERS, destination=where
                ),
                actor="t",
            ),
        )
        posting.post(  # not linked to the order: not counted
            session=session,
            request=posting.PostingRequest(
                reason=MoveReason.HANDOFF,
                doc_type="handoff",
                doc_id="8",
                legs=posting.transfer(
                    item="visor", qty=5, source=catalogue.PARTNERS, destination=where
                ),
                actor="t",
            ),
        )
    with unit_of_work(engine, read_only=True) as session:
        assert demand.delivered_per_line(session=session, reference="CMD-2026-000001") == {
            1: 300,
            2: 0,
        }
        assert not demand.fully_delivered(session=session, reference="CMD-2026-000001")
    with unit_of_work(engine) as session:
        posting.reverse(session=session, posting_id=delivered.id, reason="wrong", actor="t")
    with unit_of_work(engine, read_only=True) as session:
        assert demand.delivered_per_line(session=session, reference="CMD-2026-000001")[1] == 0


def test_a_new_orders_projection_is_written_as_a_first_publish_writes_it(
    engine: Engine, hospital_id: int
) -> None:
    with unit_of_work(engine) as session:
        _publish(session, hospital_id, demand.DemandState.PENDING)
    with unit_of_work(engine) as session:
        demand.publish(
            session=session,
            reference="CMD-2026-000002",
            hospital_id=hospital_id,
            lines=[demand.LineSpec(1, "visor", 300), demand.LineSpec(2, "visor-frame", 50)],
            needed_by=date(2026, 12, 20),
            state=demand.DemandState.PENDING,
            status=demand.DemandState.PENDING.value,
            priority=2,
            site="Hôtel-Dieu, Nantes",
            new=True,
        )
    with unit_of_work(engine, read_only=True) as session:
        first, new = (
            [
                x.model_dump(exclude={"id", "reference", "updated_at"})
                for x in demand.lines_of(session=session, reference=reference)
            ]
            for reference in ("CMD-2026-000001", "CMD-2026-000002")
        )
    assert new == first
    assert [x["line"] for x in new] == [1, 2]
