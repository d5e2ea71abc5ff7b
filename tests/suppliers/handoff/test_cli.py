"""``fabcoord partners …`` and ``fabcoord handoff …`` end to end, against the stand-in."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from fabcoord import demand
from fabcoord.config import PROJECT_DATA_DIR
from fabcoord.db import unit_of_work
from fabcoord.records import Hospital
from fabcoord.reference import load_reference_data
from tests.factories import Runner
from tests.suppliers.handoff.conftest import Partner

REF = "CMD-2026-000007"


@pytest.fixture
def run(
    database_url: str,
    engine: Engine,
    partner: Partner,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Runner:
    monkeypatch.setenv("PARTNER_KEY", partner.api_key)
    with unit_of_work(engine) as session:
        load_reference_data(session=session, data_dir=PROJECT_DATA_DIR)
        hospital = session.exec(select(Hospital)).first()
        assert hospital is not None and hospital.id is not None
        demand.publish(
            session=session,
            reference=REF,
            hospital_id=hospital.id,
            lines=[demand.LineSpec(1, "visor", 300)],
            needed_by=date(2026, 12, 31),
            state=demand.DemandState.OPEN,
            status="accepted",
        )
    runner = Runner(database_url, capsys)
    runner.ok(
        *("partners", "add", "Plastiques de l'Ouest", "--odoo-url", partner.url),
        *("--database", partner.database, "--login", partner.login),
        *("--api-key-env", "PARTNER_KEY", "--minimum-order", "50", "--lead-time-days", "3"),
    )
    return runner


def test_a_coordinator_hands_off_follows_and_receives_in_a_few_commands(
    run: Runner, partner: Partner
) -> None:
    check = run.ok("partners", "check", "Plastiques de l'Ouest")
    assert "Odoo 17.0, login accepted" in check and partner.api_key not in check
    needed = (date.today() + timedelta(days=10)).isoformat()
    out = run.ok(
        *("handoff", "create", "--partner", "Plastiques de l'Ouest", "--qty", "200"),
        *("--needed-by", needed, "--orders", REF),
    )
    assert "hand-off 1 recorded" in out and "hospital/" in out
    assert "is now sent" in run.ok("handoff", "send", "1")
    partner.control("deliver", ref="FABCOORD-HO-1", quantity=120)
    assert "120 delivered, 120 posted now" in run.ok("handoff", "sync")
    assert "0 posted now" in run.ok("handoff", "sync", "1")
    shown = json.loads(run.ok("handoff", "show", "1", "--json"))
    assert (shown["state"], shown["delivered"], shown["odoo_state"]) == ("partial", 120, "sale")
    listed = json.loads(run.ok("handoff", "list", "--json"))
    assert [h["id"] for h in listed] == [1]
    assert "is now cancelled" in run.ok("handoff", "cancel", "1")


def test_bad_input_is_one_line_and_changes_nothing(run: Runner) -> None:
    soon = date.today().isoformat()
    cases = [
        (("--partner", "Nobody", "--qty", "100", "--needed-by", "2030-01-01"), "unknown partner"),
        (("--qty", "10", "--needed-by", "2030-01-01", "--orders", REF), "at least 50"),
        (("--qty", "100", "--needed-by", soon, "--orders", REF), "--force"),
        (("--qty", "100", "--needed-by", "2030-01-01"), "--to is needed"),
        (("--qty", "100", "--needed-by", "soon", "--orders", REF), "is not a date"),
        (("--from-plan",), "recommends no hand-off"),
    ]
    for args, message in cases:
        if "--partner" not in args:
            args = ("--partner", "Plastiques de l'Ouest", *args)
        code, _out, err = run("handoff", "create", *args)
        assert code != 0 and message in err and len(err.strip().splitlines()) == 1, err
    code, _out, err = run("handoff", "sync", "9")
    assert code == 1 and "unknown hand-off 9" in err
    assert json.loads(run.ok("handoff", "list", "--json")) == []


def test_a_wrong_key_and_a_wrong_database_say_so(
    run: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARTNER_KEY", "wrong")
    code, _out, err = run("partners", "check", "Plastiques de l'Ouest")
    assert code == 3 and "refused login 'admin' or its API key" in err and "wrong" not in err[6:]
    monkeypatch.delenv("PARTNER_KEY")
    code, _out, err = run("partners", "check", "Plastiques de l'Ouest")
    assert code == 1 and "PARTNER_KEY" in err


def test_the_manual_fallback_from_the_command_line(run: Runner, tmp_path: Path) -> None:
    run.ok(
        *("handoff", "create", "--partner", "Plastiques de l'Ouest", "--qty", "100"),
        *("--needed-by", "2030-01-01", "--orders", REF),
    )
    assert "wrote" in run.ok("handoff", "export", "1", "--to", str(tmp_path))
    assert (tmp_path / "FABCOORD-HO-1.pdf").exists()
    run.ok("handoff", "confirm", "1", "--partner-ref", "SO-12")
    out = run.ok("handoff", "receive", "1", "--qty", "100", "--ref", "BL-9")
    assert "100 in all, now delivered" in out
