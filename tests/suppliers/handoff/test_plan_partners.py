"""Partner manufacturers in the plan: placed by their city, dearer than volunteers, started after
their lead time; explained; recorded as draft hand-offs (never sent) when the plan is accepted;
bad partner input refused in one line. Through ``cli.run``, as the composition root wires it."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from fabcoord import demand
from fabcoord.clock import utc_now
from fabcoord.db import unit_of_work
from fabcoord.planning import handoff_recommendation, plans
from fabcoord.records import Hospital
from suppliers.handoff import outbox, service
from suppliers.handoff.errors import PartnerRefused
from suppliers.handoff.models import Handoff, HandoffCommand, HandoffState, Partner
from tests.factories import Runner, database_snapshot, receive
from tests.print_farm import farm_factories as ff

REF = "CMD-2026-000101"
PARTNER = "Plastiques de Lyon"


pytestmark = pytest.mark.usefixtures("clean_wiring")


def volunteers(engine: Engine, run: Runner, *, per_day: int = 10) -> ff.Farm:
    """A fablab in Nantes with a maker and sheets and elastic for 1,000 visors."""
    farm = ff.make_fablab(engine)
    run.ok("makers", "add", "Ann", "--fablab", farm.fablab, "--declared-per-day", str(per_day))
    receive(engine, item="pet-sheet-a4", qty=1000, to=farm.stock, lot="S1")
    receive(engine, item="elastic", qty=300_000, to=farm.stock, lot="E1")
    return farm


def add_partner(run: Runner, *extra: str, name: str = PARTNER) -> str:
    return run.ok(
        *("partners", "add", name, "--odoo-url", "https://odoo.example", "--database", "prod"),
        *("--login", "fabcoord@chu.example", "--api-key-env", "PARTNER_KEY"),
        *extra,
    )


def soon(days: int) -> date:
    return date.today() + timedelta(days=days)


def plan(run: Runner) -> dict[str, Any]:
    result = run.json("plan")
    assert isinstance(result, dict)
    return result


def test_volunteers_come_first_when_they_meet_the_date(engine: Engine, run: Runner) -> None:
    volunteers(engine, run)
    add_partner(run, "--visors-per-day", "500", "--city", "Lyon", "--lead-time-days", "1")
    ff.open_order(engine, REF, item="visor", quantity=40, needed_by=soon(10))
    result = plan(run)
    [line] = result["lines"]
    assert line["unmet"] == 0 and line["late_days"] == 0
    assert [p["site"] for p in line["parts"]] == ["maker/1"]
    assert result["partners"] == {}


def test_a_partner_takes_what_volunteers_cannot_deliver_in_time(
    engine: Engine, run: Runner
) -> None:
    volunteers(engine, run)
    add_partner(
        run, "--visors-per-day", "100", "--city", "Lyon", "--lead-time-days", "2",
        "--minimum-order", "50",
    )  # fmt: skip
    ff.open_order(engine, REF, item="visor", quantity=300, needed_by=soon(6))
    small = ff.open_order(engine, "CMD-2026-000102", item="visor", quantity=40, needed_by=soon(10))
    result = plan(run)
    line, other = sorted(result["lines"], key=lambda x: x["reference"])
    assert line["unmet"] == 0
    assert other["reference"] == small and other["late_days"] == 0
    assert [p["site"] for p in other["parts"]] == ["maker/1"]  # on time by Ann: not the partner
    made = {p["site"]: p["quantity"] for p in line["parts"]}
    [key] = [k for k in made if k.startswith("partner/")]
    assert made[key] >= 50 and sum(made.values()) == 300
    partner = result["partners"][key]
    assert partner["name"] == f"partner {PARTNER}" and partner["visors"] == made[key]
    assert partner["lines"][0]["reference"] == REF
    part = next(p for p in line["parts"] if p["site"] == key)
    assert part["distance_km"] > 400  # Lyon to Nantes: the distance is counted
    assert part["completion"] >= soon(3).isoformat()  # not before its lead time is over
    assert result["sites"][key]["kind"] == "partner"
    assert result["handoff"]["partners"] == [
        {"partner": key, "name": f"partner {PARTNER}", "visors": made[key]}
    ]

    shown = run.ok("plan", "show")
    assert "partner manufacturers" in shown and f"partner {PARTNER}" in shown
    explained = run.ok("plan", "explain", REF)
    assert f"go to partner {PARTNER}, an industrial partner" in explained
    assert "fablabs and makers are used first" in explained
    assert "Accepting the plan records this as a draft hand-off" in explained

    accepted = run.ok("plan", "accept")
    assert f"partner {PARTNER}: {made[key]} visors" in accepted and "not sent" in accepted
    with unit_of_work(engine, read_only=True) as session:
        [handoff] = session.exec(select(Handoff)).all()
        assert (handoff.state, handoff.quantity, handoff.orders) == (
            HandoffState.DRAFT,
            made[key],
            REF,
        )
        assert handoff.destination == "hospital/chu-de-nantes"
        assert handoff.needed_by.isoformat() == part["delivery"]
        assert session.exec(select(HandoffCommand)).all() == []  # nothing sent to the Odoo
    # once the partner confirmed it, the next plan does not plan the handed-off visors again
    run.ok("handoff", "confirm", str(handoff.id))
    again = {x["reference"]: x for x in plan(run)["lines"]}
    assert REF not in again or again[REF]["quantity"] == 300 - made[key]


def test_the_recommendation_is_what_partners_cannot_place(engine: Engine, run: Runner) -> None:
    volunteers(engine, run, per_day=5)
    add_partner(run, "--visors-per-day", "10", "--city", "Lyon", "--lead-time-days", "1")
    ff.open_order(engine, REF, item="visor", quantity=1000, needed_by=soon(5))
    result = plan(run)
    [line] = result["lines"]
    placed = sum(p["quantity"] for p in line["parts"])
    partner_visors = sum(r["visors"] for r in result["partners"].values())
    assert partner_visors == 130  # 10 a day from day 1 to day 14
    handoff = result["handoff"]
    assert handoff["visors"] >= line["unmet"] > 0
    assert handoff["visors"] <= 1000 - partner_visors
    assert handoff["partners"][0]["visors"] == partner_visors and placed >= partner_visors
    with unit_of_work(engine, read_only=True) as session:
        recommended = handoff_recommendation(session=session)
    assert recommended is not None and recommended.quantity == handoff["visors"]
    assert "beyond the partner allocations" in run.ok("plan", "show")


def test_an_order_with_two_visor_lines_is_handed_off_once(engine: Engine, run: Runner) -> None:
    volunteers(engine, run, per_day=1)
    add_partner(run, "--visors-per-day", "200", "--city", "Lyon", "--lead-time-days", "1")
    ff.open_order(engine, "CMD-2026-000999", item="visor", quantity=1, needed_by=soon(30))
    with unit_of_work(engine) as session:  # the order intake takes two lines of one model
        hospital = session.exec(select(Hospital).where(Hospital.slug == "chu-de-nantes")).one()
        assert hospital.id is not None
        demand.publish(
            session=session,
            reference=REF,
            hospital_id=hospital.id,
            lines=[demand.LineSpec(1, "visor", 150), demand.LineSpec(2, "visor", 150)],
            needed_by=soon(5),
            state=demand.DemandState.OPEN,
            status="accepted",
            site=hospital.name,
        )
    first = plan(run)
    given = [(p["reference"], p["line"]) for a in first["partners"].values() for p in a["lines"]]
    assert (REF, 1) in given and (REF, 2) in given
    run.ok("plan", "accept")
    with unit_of_work(engine, read_only=True) as session:
        [draft] = session.exec(select(Handoff)).all()
    run.ok("handoff", "confirm", str(draft.id))  # the partner confirmed it: handed off
    second = plan(run)
    assert REF not in {p["reference"] for a in second["partners"].values() for p in a["lines"]}
    assert REF not in {line["reference"] for line in second["lines"]}  # nothing left to plan
    run.ok("plan", "accept")
    with unit_of_work(engine, read_only=True) as session:
        handoffs = session.exec(select(Handoff)).all()
    assert sum(h.quantity for h in handoffs if REF in h.orders.split(",")) == 300


def test_a_partners_capacity_handed_off_is_not_offered_again(engine: Engine, run: Runner) -> None:
    volunteers(engine, run, per_day=1)
    add_partner(run, "--visors-per-day", "10", "--city", "Lyon", "--lead-time-days", "1")
    ff.open_order(engine, REF, item="visor", quantity=1000, needed_by=soon(5))
    first = plan(run)
    [given] = first["partners"].values()
    assert given["visors"] == 10 * (14 - 1)  # its whole capacity over the 14-day horizon
    run.ok("plan", "accept")
    with unit_of_work(engine, read_only=True) as session:
        drafts = session.exec(select(Handoff)).all()
    for draft in drafts:  # sent: no longer the plan's to replace
        run.ok("handoff", "confirm", str(draft.id))
    ff.open_order(engine, "CMD-2026-000102", item="visor", quantity=1000, needed_by=soon(5))
    second = plan(run)
    assert second["partners"] == {}
    assert any("already handed to it fill its capacity" in note for note in second["notes"])
    run.ok("plan", "accept")
    with unit_of_work(engine, read_only=True) as session:
        handoffs = session.exec(select(Handoff)).all()
        assert sum(h.quantity for h in handoffs) == 130
    with unit_of_work(engine) as session:  # once cancelled, the partner's days are free again
        for handoff in session.exec(select(Handoff)).all():
            handoff.state = HandoffState.CANCELLED
    third = plan(run)
    assert sum(a["visors"] for a in third["partners"].values()) == 130


def live(engine: Engine) -> list[Handoff]:
    """The hand-offs not cancelled, oldest first."""
    with unit_of_work(engine, read_only=True) as session:
        rows = session.exec(select(Handoff).order_by(Handoff.id)).all()  # type: ignore[arg-type]
    return [h for h in rows if h.state is not HandoffState.CANCELLED]


def partner_needed(engine: Engine, run: Runner) -> None:
    """Volunteers at 1 frame a day and a partner in Lyon: REF's 300 visors in 6 days need it."""
    volunteers(engine, run, per_day=1)
    add_partner(run, "--visors-per-day", "50", "--city", "Lyon", "--lead-time-days", "1")
    ff.open_order(engine, REF, item="visor", quantity=300, needed_by=soon(6))


def accepted_draft(engine: Engine, run: Runner) -> Handoff:
    """The one draft hand-off of a plan accepted when the partner is needed."""
    partner_needed(engine, run)
    plan(run)
    run.ok("plan", "accept")
    [draft] = live(engine)
    return draft


def test_accepting_a_later_plan_replaces_the_earlier_plans_unsent_drafts(
    engine: Engine, run: Runner
) -> None:
    partner_needed(engine, run)
    first = plan(run)
    given = sum(a["visors"] for a in first["partners"].values())
    assert given > 0
    run.ok("plan", "accept")
    [draft] = live(engine)
    assert (draft.plan_id, draft.quantity) == (first["version"], given)
    # the draft is the plan's proposal, not a commitment: the next plan places it again
    second = plan(run)
    assert sum(a["visors"] for a in second["partners"].values()) == given
    assert {n["reference"] for n in second["lines"]} == {REF}
    said = run.ok("plan", "accept")
    assert f"replaced (cancelled): {draft.id}" in said
    [new] = live(engine)
    assert (new.plan_id, new.quantity, new.state) == (
        second["version"], given, HandoffState.DRAFT,
    )  # fmt: skip
    shown = run.json("handoff", "show", str(draft.id))
    assert isinstance(shown, dict)
    assert shown["state"] == "cancelled" and shown["plan"] == first["version"]
    assert shown["cancel_reason"] == (
        f"replaced by plan {second['version']} (a draft of plan {first['version']})"
    )
    assert "cancel_reason: replaced by plan" in run.ok("handoff", "show", str(draft.id))


def refused_by_the_partner(engine: Engine, handoff_id: int) -> None:
    """Send ``handoff_id`` and carry the send out as the outbox does when the partner's Odoo
    refuses the order (here, after creating it: at its confirmation); no network."""
    with unit_of_work(engine) as session:
        service.queue_send(session=session, handoff_id=handoff_id)
    with unit_of_work(engine) as session:
        [job] = outbox.claim(session=session, now=utc_now(), lease_s=60, limit=10)
        assert (job.kind, job.handoff_id) == ("send", handoff_id)
        refusal = PartnerRefused("Odoo refused action_confirm: the product is archived")
        outbox.record(session=session, outcomes=[outbox.Outcome(job=job, error=refusal)],
                      now=utc_now(), backoff=outbox.Backoff(), max_server_errors=3)  # fmt: skip


@pytest.fixture
def refused(engine: Engine, run: Runner, monkeypatch: pytest.MonkeyPatch) -> Handoff:
    """A plan's draft hand-off, sent, and refused by the partner."""
    monkeypatch.setenv("PARTNER_KEY", "a-key")
    draft = accepted_draft(engine, run)
    refused_by_the_partner(engine, draft.id or 0)
    return draft


def test_a_plans_hand_off_the_partner_refused_is_replaced_and_never_sent_again(
    engine: Engine, run: Runner, refused: Handoff
) -> None:
    draft = refused
    second = plan(run)  # a refusal commits nothing: its volume is planned again
    assert sum(a["visors"] for a in second["partners"].values()) == draft.quantity
    said = run.ok("plan", "accept")
    assert "the partner refused, replaced" in said and said.rstrip().endswith(f": {draft.id}")
    with unit_of_work(engine, read_only=True) as session:
        old = session.get(Handoff, draft.id)
        assert old is not None and old.state is HandoffState.REFUSED  # until its cancel is done
        assert old.cancel_reason == (
            f"replaced by plan {second['version']} (refused by the partner, a hand-off of plan "
            f"{draft.plan_id})"
        )
        commands = session.exec(
            select(HandoffCommand.kind, HandoffCommand.state)
            .where(HandoffCommand.handoff_id == draft.id)
            .order_by(HandoffCommand.id)  # type: ignore[arg-type]
        ).all()
        assert [(kind, str(state)) for kind, state in commands] == [
            ("send", "failed"), ("cancel", "pending"),
        ]  # fmt: skip
        [new] = session.exec(select(Handoff).where(Handoff.plan_id == second["version"])).all()
        assert (new.state, new.quantity) == (HandoffState.DRAFT, draft.quantity)
    before = database_snapshot(engine)
    code, _, err = run("handoff", "send", str(draft.id))  # refused before any call to the partner
    assert code != 0 and err.count("\n") == 1, err
    assert f"hand-off {draft.id} was replaced by plan {second['version']}" in err
    assert database_snapshot(engine) == before
    third = plan(run)
    assert "refused" not in run.ok("plan", "accept", str(third["version"]))  # replaced once


def test_a_refusal_while_a_plan_is_accepted_waits_and_the_next_plan_replaces_it(
    engine: Engine, run: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The partner refuses a queued hand-off while a plan that counted it as handed off is being
    accepted (after its inputs were checked): the refusal waits for the accept, the hand-off stays
    refused and sendable, and the next plan places its volume and replaces it."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs one writer at a time: no refusal can land inside an accept")
    monkeypatch.setenv("PARTNER_KEY", "a-key")
    draft = accepted_draft(engine, run)
    with unit_of_work(engine) as session:
        service.queue_send(session=session, handoff_id=draft.id or 0)
    third = plan(run)  # counts the queued hand-off as handed off: places none of it again
    assert third["partners"] == {}
    refusal = threading.Thread(target=refused_by_the_partner, args=(engine, draft.id or 0))
    checked = plans.changes_since

    def refused_meanwhile(before: dict[str, Any], now: dict[str, Any]) -> list[str]:
        changed = checked(before, now)
        refusal.start()
        refusal.join(0.5)
        assert refusal.is_alive()  # waits for the accept's lock
        return changed

    monkeypatch.setattr(plans, "changes_since", refused_meanwhile)
    assert "refused" not in run.ok("plan", "accept", str(third["version"]))
    refusal.join(30)
    assert not refusal.is_alive()
    with unit_of_work(engine, read_only=True) as session:
        old = session.get(Handoff, draft.id)
        assert old is not None and (old.state, old.cancel_reason) == (HandoffState.REFUSED, "")
    monkeypatch.setattr(plans, "changes_since", checked)
    fourth = plan(run)
    assert sum(a["visors"] for a in fourth["partners"].values()) == draft.quantity
    assert "the partner refused, replaced" in run.ok("plan", "accept", str(fourth["version"]))


def test_a_refused_hand_off_cancelled_by_hand_is_replaced_without_a_second_cancel(
    engine: Engine, run: Runner, refused: Handoff
) -> None:
    draft = refused
    with unit_of_work(engine) as session:  # `handoff cancel`: through the outbox, it was sent
        assert service.queue_cancel(session=session, handoff_id=draft.id or 0) is not None
    plan(run)
    assert "the partner refused, replaced" in run.ok("plan", "accept")
    with unit_of_work(engine, read_only=True) as session:
        kinds = session.exec(
            select(HandoffCommand.kind).where(
                HandoffCommand.handoff_id == draft.id, HandoffCommand.kind == "cancel"
            )
        ).all()
    assert kinds == ["cancel"]


def test_plans_computed_together_are_accepted_one_after_the_other(
    engine: Engine, run: Runner
) -> None:
    partner_needed(engine, run)
    first, second = plan(run), plan(run)
    run.ok("plan", "accept", str(first["version"]))
    run.ok("plan", "accept", str(second["version"]))  # the first's drafts change none of its inputs
    assert [h.plan_id for h in live(engine)] == [second["version"]]


def test_hand_offs_sent_or_made_by_hand_are_kept_and_counted(engine: Engine, run: Runner) -> None:
    partner_needed(engine, run)
    other = ff.open_order(engine, "CMD-2026-000102", item="visor", quantity=20, needed_by=soon(9))
    run.ok("handoff", "create", "--partner", PARTNER, "--qty", "20", "--needed-by", soon(9).isoformat(),
           "--orders", other, "--force")  # fmt: skip
    first = plan(run)
    given = sum(a["visors"] for a in first["partners"].values())
    assert other not in {n["reference"] for n in first["lines"]}  # handed off by hand
    run.ok("plan", "accept")
    by_hand, draft = live(engine)
    run.ok("handoff", "confirm", str(draft.id))  # the partner confirmed the plan's order
    second = plan(run)
    assert sum(a["visors"] for a in second["partners"].values()) < given  # its days are booked
    said = run.ok("plan", "accept")
    assert "replaced" not in said
    kept = live(engine)
    assert [(h.id, h.state) for h in kept[:2]] == [
        (by_hand.id, HandoffState.DRAFT),
        (draft.id, HandoffState.SENT),
    ]
    assert sum(h.quantity for h in kept if REF in h.orders) <= 300  # never double-booked


def test_an_exported_plan_draft_is_kept_by_the_next_plan(
    engine: Engine, run: Runner, tmp_path: Path
) -> None:
    draft = accepted_draft(engine, run)
    run.ok("handoff", "export", str(draft.id), "--to", str(tmp_path))  # mailed to the partner
    second = plan(run)
    assert sum(a["visors"] for a in second["partners"].values()) < draft.quantity  # booked
    assert "replaced" not in run.ok("plan", "accept")
    [kept, *_] = live(engine)
    assert (kept.id, kept.state, kept.plan_id) == (draft.id, HandoffState.DRAFT, None)
    run.ok("handoff", "confirm", str(draft.id))  # the partner's answer is still taken


def test_a_draft_sent_after_the_plan_was_computed_makes_it_out_of_date(
    engine: Engine, run: Runner
) -> None:
    draft = accepted_draft(engine, run)
    second = plan(run)  # counts the draft as replaceable
    run.ok("handoff", "confirm", str(draft.id))  # ... but the coordinator places it meanwhile
    before = database_snapshot(engine)
    code, _, err = run("plan", "accept", str(second["version"]))
    assert code == 1 and f"plan {second['version']} is out of date" in err, err
    assert err.count("\n") == 1
    assert database_snapshot(engine) == before
    [kept] = live(engine)
    assert (kept.id, kept.state) == (draft.id, HandoffState.SENT)


def test_a_partner_is_left_out_without_city_capacity_or_its_minimum(
    engine: Engine, run: Runner
) -> None:
    volunteers(engine, run, per_day=1)
    add_partner(run, "--visors-per-day", "100", name="Sans Ville")
    add_partner(run, "--city", "Lyon", name="Sans Capacité")
    add_partner(
        run, "--visors-per-day", "100", "--city", "Lyon", "--minimum-order", "100000",
        name="Gros Minimum",
    )  # fmt: skip
    ff.open_order(engine, REF, item="visor", quantity=200, needed_by=soon(6))
    result = plan(run)
    assert result["partners"] == {}
    notes = "\n".join(result["notes"])
    assert "partner Sans Ville is left out of the plan: no city set" in notes
    assert "partner Gros Minimum is left out of the plan" in notes and "minimum order" in notes
    assert "Sans Capacité" not in notes + str(result["sites"])  # no capacity: not a source
    assert result["handoff"]["visors"] > 0


def test_partners_set_changes_what_the_plan_reads(engine: Engine, run: Runner) -> None:
    volunteers(engine, run, per_day=1)
    add_partner(run)
    ff.open_order(engine, REF, item="visor", quantity=200, needed_by=soon(6))
    assert plan(run)["partners"] == {}
    said = run.ok(
        "partners",
        "set",
        PARTNER,
        "--visors-per-day",
        "50",
        "--city",
        "Lyon",
        "--lead-time-days",
        "0",
    )
    assert "50 visors a day" in said and "city Lyon" in said
    result = plan(run)
    [row] = result["partners"].values()
    assert row["visors"] > 0
    key = next(iter(result["partners"]))
    assert "no lead time declared: 3 days counted" in result["sites"][key]["notes"]
    assert result["sites"][key]["start_day"] == 3


def test_partners_set_clears_the_city_or_the_region(engine: Engine, run: Runner) -> None:
    volunteers(engine, run, per_day=1)
    add_partner(run, "--visors-per-day", "50", "--city", "Lyon", "--region", "Auvergne-Rhône-Alpes")
    ff.open_order(engine, REF, item="visor", quantity=200, needed_by=soon(6))
    assert "city Lyon (Auvergne-Rhône-Alpes)" in run.ok("partners", "set", PARTNER)
    assert run.ok("partners", "set", PARTNER, "--clear-region").rstrip().endswith("city Lyon")
    assert plan(run)["partners"] != {}  # the city alone places it
    said = run.ok("partners", "set", PARTNER, "--clear-city")
    assert said.rstrip().endswith("city not set")
    with unit_of_work(engine, read_only=True) as session:
        [partner] = session.exec(select(Partner)).all()
        assert (partner.city, partner.region) == ("", "")
    result = plan(run)
    assert result["partners"] == {}
    assert any(
        f"partner {PARTNER} is left out of the plan: no city set" in n for n in result["notes"]
    )


@pytest.mark.parametrize(
    "args",
    [
        ("--clear-city", "--city", "Lyon"),
        ("--clear-city", "--region", "Auvergne-Rhône-Alpes"),
        ("--clear-region", "--region", "Auvergne-Rhône-Alpes"),
    ],
)
def test_a_place_both_set_and_cleared_is_refused(
    engine: Engine, run: Runner, args: tuple[str, ...]
) -> None:
    add_partner(run, "--visors-per-day", "10", "--city", "Lyon")
    before = database_snapshot(engine)
    code, _, err = run("partners", "set", PARTNER, *args)
    assert code == 1 and err.startswith(f"error: {args[0]} forgets") and err.count("\n") == 1, err
    assert database_snapshot(engine) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--visors-per-day", "-5"), "error: --visors-per-day must be a whole number from 0"),
        (("--city", "Atlantis"), "error: unknown city 'Atlantis'"),
        (("--lead-time-days", "400"), "error: --lead-time-days must be a whole number from 0"),
        (("--region", "Bretagne"), "error: --region needs --city"),
    ],
)
def test_bad_partner_input_is_one_line_and_writes_nothing(
    engine: Engine, run: Runner, args: tuple[str, ...], message: str
) -> None:
    add_partner(run, "--visors-per-day", "10", "--city", "Lyon")
    before = database_snapshot(engine)
    code, _, err = run("partners", "add", "Autre", *("--odoo-url", "https://o.example"),
                       *("--database", "d", "--login", "l", "--api-key-env", "K"), *args)  # fmt: skip
    assert code == 1 and err.startswith(message) and err.count("\n") == 1, err
    if args[0] != "--region":  # the partner has a city already: a region alone may be set
        code, _, err = run("partners", "set", PARTNER, *args)
        assert code == 1 and err.startswith(message) and err.count("\n") == 1, err
    assert database_snapshot(engine) == before
    with unit_of_work(engine, read_only=True) as session:
        [partner] = session.exec(select(Partner)).all()
        assert (partner.capacity_per_day, partner.city, partner.lead_time_days) == (10, "Lyon", 0)


def test_setting_an_unknown_partner_is_refused(run: Runner) -> None:
    code, _, err = run("partners", "set", "Nobody", "--visors-per-day", "5")
    assert code == 1 and err.startswith("error: unknown partner 'Nobody'")
