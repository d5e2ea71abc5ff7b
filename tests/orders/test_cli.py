"""The fablab manager's commands: hospital links and orders, through ``cli.run``."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

import cli
from fabcoord.db import unit_of_work
from tests.orders.conftest import HOSPITAL, state, valid_order

MARKUP = "[bold red]Réa[/bold red] <script>alert(1)</script>"


def run(database_url: str, *args: str) -> int:
    return cli.run(["--db", database_url, "--actor", "manager", *args])


def place(client: TestClient, token: str, **changes: object) -> str:
    response = client.post(
        "/api/v1/orders",
        json=valid_order(**changes),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["reference"])


def test_invite_prints_a_working_link_once_and_revoke_ends_it(
    database_url: str,
    reference_loaded: Engine,
    client: TestClient,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(database_url, "hospital", "invite", HOSPITAL) == 0
    link = next(w for w in capsys.readouterr().out.split() if w.startswith("http"))
    path = "/" + link.split("/", 3)[3]
    assert link.startswith("http://127.0.0.1:8000/h/")
    assert client.get(path).status_code == 200
    with reference_loaded.connect() as connection:
        stored = connection.exec_driver_sql("SELECT token_hash FROM hospital_link").scalars().all()
    assert path.rsplit("/", 1)[1] not in " ".join(stored)
    assert run(database_url, "hospital", "revoke", "chu-de-poitiers") == 0
    assert "1 link(s) revoked" in capsys.readouterr().out
    assert client.get(path).status_code == 404


def test_inviting_an_unknown_hospital_is_one_line_on_stderr(
    database_url: str, reference_loaded: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(database_url, "hospital", "invite", "CHU de Nulle-Part") == 1
    err = capsys.readouterr().err
    assert err.startswith("error: unknown hospital") and err.count("\n") == 1


def test_managers_list_show_accept_and_plan_orders(
    database_url: str,
    token: str,
    client: TestClient,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ref = place(client, token)
    capsys.readouterr()
    assert run(database_url, "orders", "list", "--status", "received", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [o["reference"] for o in listed] == [ref]
    assert run(database_url, "orders", "accept", ref, "--reason", "stock ok") == 0
    assert run(database_url, "orders", "plan", ref, "--delivery", "2099-01-31") == 0
    capsys.readouterr()
    assert run(database_url, "orders", "show", ref, "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["status"] == "planned" and shown["expected_delivery"] == "2099-01-31"
    assert [e["actor"] for e in shown["events"]][1:] == ["manager", "manager"]
    assert run(database_url, "orders", "list", "--hospital", HOSPITAL, "--status", "received") == 0
    assert ref not in capsys.readouterr().out


def test_reject_and_cancel_need_a_reason_and_illegal_moves_are_refused(
    database_url: str,
    token: str,
    client: TestClient,
    reference_loaded: Engine,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ref = place(client, token)
    assert run(database_url, "orders", "reject", ref) == 2  # usage error: --reason is required
    assert run(database_url, "orders", "reject", ref, "--reason", "doublon") == 0
    capsys.readouterr()
    before = state(reference_loaded)
    assert run(database_url, "orders", "accept", ref) == 1
    assert run(database_url, "orders", "cancel", ref, "--reason", "x") == 1
    assert run(database_url, "orders", "show", "CMD-1999-000001") == 1
    assert run(database_url, "orders", "list", "--status", "lost") == 1
    err = capsys.readouterr().err.splitlines()
    assert "is rejected: it cannot become accepted" in err[0]
    assert all(line.startswith("error: ") for line in err) and len(err) == 4
    assert state(reference_loaded) == before


def test_user_text_is_printed_literally_never_as_markup(
    database_url: str, token: str, client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    ref = place(client, token, department=MARKUP)
    capsys.readouterr()
    assert run(database_url, "orders", "show", ref) == 0
    assert "[bold red]Réa[/bold red] <script>alert(1)</script>" in capsys.readouterr().out
    assert run(database_url, "orders", "list", "--json") == 0
    assert json.loads(capsys.readouterr().out)[0]["department"] == MARKUP


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("orders", "accept", "{ref}", "--reason", "x" * 501), "too long"),
        (("orders", "plan", "{ref}", "--delivery", "demain"), "not an ISO date"),
        (("orders", "plan", "{ref}", "--delivery", "2020-01-01"), "in the past"),
        (
            ("orders", "plan", "{ref}", "--delivery", "2099-01-01", "--allocated", "0"),
            "--allocated",
        ),
        (("orders", "show", "x" * 5000), "introuvable"),
        (("hospital", "invite", "<script>" * 50), "unknown hospital"),
        (("hospital", "revoke", "CHU de Nulle-Part"), "unknown hospital"),
    ],
    ids=["reason too long", "date text", "date past", "allocated 0", "ref", "invite", "revoke"],
)
def test_bad_manager_input_is_one_line_and_changes_nothing(
    database_url: str,
    token: str,
    client: TestClient,
    reference_loaded: Engine,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    message: str,
) -> None:
    ref = place(client, token)
    before = state(reference_loaded)
    capsys.readouterr()
    assert run(database_url, *(a.replace("{ref}", ref) for a in args)) != 0
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    assert state(reference_loaded) == before


def test_an_allocation_beyond_the_order_exits_1_and_changes_nothing(
    database_url: str,
    token: str,
    client: TestClient,
    reference_loaded: Engine,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ref = place(client, token)
    assert run(database_url, "orders", "accept", ref) == 0
    before = state(reference_loaded)
    capsys.readouterr()
    args = ("orders", "plan", ref, "--delivery", "2099-01-01", "--allocated", "999999")
    assert run(database_url, *args) == 1
    assert "--allocated must be between 1 and 250" in capsys.readouterr().err
    assert state(reference_loaded) == before


def test_managers_are_told_the_hospital_reads_their_reasons_and_replan_with_one(
    database_url: str, token: str, client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    ref = place(client, token)
    capsys.readouterr()
    assert run(database_url, "orders", "accept", ref, "--reason", "stock disponible") == 0
    assert "shown to the hospital" in capsys.readouterr().out
    assert run(database_url, "orders", "plan", ref, "--delivery", "2099-01-01") == 0
    capsys.readouterr()
    assert run(database_url, "orders", "replan", ref, "--delivery", "2099-02-01") != 0
    assert "--reason" in capsys.readouterr().err
    replan = ("orders", "replan", ref, "--delivery", "2099-02-01", "--reason", "panne")
    assert run(database_url, *replan) == 0
    out = capsys.readouterr().out
    assert "2099-02-01" in out and "shown to the hospital" in out
    detail = client.get(f"/api/v1/orders/{ref}", headers={"Authorization": f"Bearer {token}"})
    assert "panne" in detail.json()["events"][-1]["reason"]


def test_sites_are_added_listed_and_removed(
    database_url: str, token: str, capsys: pytest.CaptureFixture[str]
) -> None:
    add = ("hospital", "site", "add", "CHU de Poitiers", "Châtellerault")
    assert (
        run(
            database_url,
            *add,
            "--address",
            "Rue du Dr Luc Montagnier",
            "--postal-code",
            "86100",
            "--city",
            "Châtellerault",
        )
        == 0
    )
    assert run(database_url, *add, "--address", "ailleurs") == 1
    assert "already" in capsys.readouterr().err
    assert run(database_url, "hospital", "site", "list", "CHU de Poitiers", "--json") == 0
    (site,) = json.loads(capsys.readouterr().out)
    assert (site["name"], site["postal_code"]) == ("Châtellerault", "86100")
    assert run(database_url, "hospital", "site", "remove", "CHU de Poitiers", "châtellerault") == 0
    assert run(database_url, "hospital", "site", "remove", "CHU de Poitiers", "nord") == 1
    assert run(database_url, "hospital", "site", "seed") == 0
    assert "3 site(s) added" in capsys.readouterr().out


def test_links_per_person_are_listed_expire_and_are_revoked_one_by_one(
    database_url: str,
    reference_loaded: Engine,
    client: TestClient,
    capsys: pytest.CaptureFixture[str],
) -> None:
    invite = ("hospital", "invite", HOSPITAL, "--for", "Camille Martin <camille@chu.fr>")
    assert run(database_url, *invite, "--expires", "90d") == 0
    out = capsys.readouterr()
    camille = next(w for w in out.out.split() if w.startswith("http"))
    assert "Camille Martin <camille@chu.fr>" in out.out and out.err == ""  # loopback: no warning
    assert run(database_url, "hospital", "invite", HOSPITAL, "--for", "Jo <jo@chu.fr>") == 0
    jo = next(w for w in capsys.readouterr().out.split() if w.startswith("http"))
    token = camille.rsplit("/", 1)[1]
    placed = client.post(
        "/api/v1/orders", json=valid_order(), headers={"Authorization": f"Bearer {token}"}
    )
    assert placed.status_code == 201
    assert run(database_url, "hospital", "links", HOSPITAL, "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [r["person"] for r in listed] == ["Jo <jo@chu.fr>", "Camille Martin <camille@chu.fr>"]
    assert listed[1]["last_used_at"] and listed[1]["expires_at"] and not listed[0]["expires_at"]
    assert run(database_url, "hospital", "revoke", "--link", listed[1]["hint"]) == 0
    assert "Camille Martin" in capsys.readouterr().out
    assert client.get("/" + camille.split("/", 3)[3]).status_code == 404
    assert client.get("/" + jo.split("/", 3)[3]).status_code == 200
    assert run(database_url, "hospital", "revoke", "--link", "zz") == 1
    assert run(database_url, *invite, "--expires", "soon") == 1
    assert run(database_url, "hospital", "invite", HOSPITAL, "--for", "camille@chu.fr") == 1


def test_an_expired_link_opens_nothing(
    database_url: str, reference_loaded: Engine, client: TestClient
) -> None:
    from orders import links

    with unit_of_work(reference_loaded) as session:
        token = links.invite(
            session=session, hospital=HOSPITAL, actor="t", expires_in=timedelta(hours=-1)
        ).token
    assert client.get(f"/h/{token}").status_code == 404


@pytest.mark.parametrize(
    ("url", "warned"),
    [
        ("http://127.0.0.1:8000", False),
        ("http://localhost", False),
        ("https://commandes.example.org", False),
        ("http://commandes.example.org", True),
        ("http://10.0.0.5:8000/x", True),
    ],
)
def test_a_plain_http_link_warns_unless_on_this_machine(url: str, warned: bool) -> None:
    from orders import links

    assert bool(links.plain_http_warning(url)) is warned


def test_orders_show_writes_the_printable_order(
    database_url: str,
    token: str,
    client: TestClient,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ref = place(client, token, purchase_order="BC-9")
    target = tmp_path / "order.pdf"
    assert run(database_url, "orders", "show", ref, "--pdf", str(target)) == 0
    assert target.read_bytes().startswith(b"%PDF") and str(target) in capsys.readouterr().out
    assert run(database_url, "orders", "show", ref, "--pdf", str(tmp_path / "no" / "x.pdf")) == 1
    assert capsys.readouterr().err.startswith("error: cannot write")


def test_orders_show_gives_the_history_in_paris_time(
    database_url: str, token: str, client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    from orders.schemas import PARIS

    ref = place(client, token)
    capsys.readouterr()
    assert run(database_url, "orders", "show", ref, "--json") == 0
    at = datetime.fromisoformat(json.loads(capsys.readouterr().out)["events"][0]["at"])
    assert run(database_url, "orders", "show", ref) == 0
    out = capsys.readouterr().out
    assert "time (Europe/Paris)" in out and f"{at.astimezone(PARIS):%Y-%m-%d %H:%M:%S}" in out


def test_orders_mail_lists_the_outbox_and_flushes_it_through_the_relay(
    database_url: str,
    token: str,
    client: TestClient,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.orders.smtp_relay import Relay

    ref = place(client, token)
    capsys.readouterr()
    assert run(database_url, "orders", "mail") == 0
    out = capsys.readouterr().out
    assert "e-mails are off" in out and "new_order" in out and ref in out
    assert run(database_url, "orders", "mail", "--send") == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: e-mails are off: set FABCOORD_SMTP_URL and FABCOORD_MAIL_FROM"
    ]
    relay = Relay()
    relay.start()
    try:
        monkeypatch.setenv("FABCOORD_SMTP_URL", relay.url)
        monkeypatch.setenv("FABCOORD_MAIL_FROM", "noreply@fabcoord.example")
        monkeypatch.setenv("FABCOORD_MANAGER_EMAILS", "anne@fablab.example")
        assert run(database_url, "orders", "mail", "--send") == 0
        assert capsys.readouterr().out.startswith("2 sent, 0 to retry")
    finally:
        relay.stop()
    assert len(relay.inbox.received) == 2
    assert run(database_url, "orders", "mail", "--state", "sent", "--json") == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["kind"], r["reference"], r["attempts"]) for r in rows] == [
        ("new_order", ref, 1),
        ("created", ref, 1),
    ]
