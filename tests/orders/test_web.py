"""The hospital's web pages through HTTP: form, confirmation, status, and every refusal."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from fabcoord.config import Settings
from fabcoord.db import unit_of_work
from orders import links
from orders.schemas import today
from orders.web import create_app
from tests.orders.conftest import HOSPITAL, OTHER_HOSPITAL, order_count, state, valid_order

SCRIPT = '<script>alert("x")</script>'


def form_fields(html: str) -> dict[str, str]:
    return dict(re.findall(r'name="(csrf_token|form_token)" value="([^"]+)"', html))


def open_form(client: TestClient, token: str) -> dict[str, str]:
    response = client.get(f"/h/{token}")
    assert response.status_code == 200
    return form_fields(response.text)


def submit(client: TestClient, token: str, hidden: dict[str, str], **changes: Any) -> Any:
    data = {k: str(v) for k, v in valid_order(**changes).items()}
    return client.post(f"/h/{token}/commandes", data={**hidden, **data}, follow_redirects=False)


def test_the_form_is_in_french_and_does_not_guess_the_delivery_site(
    client: TestClient, token: str
) -> None:
    page = client.get(f"/h/{token}")
    assert page.status_code == 200
    assert 'lang="fr"' in page.text and "Nombre de visières" in page.text
    assert HOSPITAL in page.text
    assert re.search(r'name="delivery_address"[^>]*></textarea>', page.text)
    assert 'name="site"' not in page.text  # no site yet: the first address becomes one
    assert page.headers["referrer-policy"] == "no-referrer"
    assert 'name="viewport"' in page.text


def test_submitting_the_form_shows_a_confirmation_with_the_reference(
    client: TestClient, token: str
) -> None:
    response = submit(client, token, open_form(client, token))
    assert response.status_code == 303
    confirmation = client.get(response.headers["location"])
    reference = re.search(r'id="reference">(CMD-\d{4}-\d{6})<', confirmation.text)
    assert reference is not None
    assert "Votre commande est enregistrée" in confirmation.text
    status = client.get(f"/h/{token}/commandes")
    assert reference.group(1) in status.text and "reçue" in status.text


def test_a_double_submit_creates_one_order(
    client: TestClient, token: str, reference_loaded: Engine
) -> None:
    hidden = open_form(client, token)
    first = submit(client, token, hidden)
    second = submit(client, token, hidden)
    assert first.headers["location"] == second.headers["location"]
    assert order_count(reference_loaded) == 1


BAD_FIELDS: list[tuple[str, dict[str, Any], str, str]] = [
    ("quantity zero", {"quantity": 0}, "quantity", "Au moins 1"),
    ("quantity negative", {"quantity": -3}, "quantity", "nombre entier"),
    ("quantity fractional", {"quantity": "2.5"}, "quantity", "nombre entier"),
    ("quantity huge", {"quantity": 100_001}, "quantity", "100 000"),
    ("quantity enormous", {"quantity": "9" * 5000}, "quantity", "nombre entier"),
    ("quantity text", {"quantity": "beaucoup"}, "quantity", "nombre entier"),
    ("quantity missing", {"quantity": ""}, "quantity", "obligatoire"),
    ("date past", {"needed_by": "2020-03-17"}, "needed_by", "passée"),
    ("date unparseable", {"needed_by": "31/02/2026"}, "needed_by", "Date invalide"),
    ("e-mail not one", {"contact_email": "claire@"}, "contact_email", "e-mail invalide"),
    ("department missing", {"department": ""}, "department", "obligatoire"),
    ("contact overlong", {"contact_name": "x" * 121}, "contact_name", "120 caractères"),
    ("notes overlong", {"notes": "x" * 2001}, "notes", "2000 caractères"),
    ("urgent without reason", {"urgency_reason": ""}, "urgency_reason", "raison"),
    ("unknown priority", {"priority": "extreme"}, "priority", "Choix invalide"),
    ("unknown model", {"item": "visor-child"}, "item", "Modèle inconnu"),
]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [c[1:] for c in BAD_FIELDS],
    ids=[c[0] for c in BAD_FIELDS],
)
def test_bad_input_shows_the_form_again_with_the_message_beside_the_field(
    client: TestClient,
    token: str,
    reference_loaded: Engine,
    changes: dict[str, Any],
    field: str,
    message: str,
) -> None:
    hidden = open_form(client, token)
    before = state(reference_loaded)
    response = submit(client, token, hidden, **changes)
    assert response.status_code == 422
    beside = re.search(rf'<p class="error" id="{field}-error">([^<]*)</p>', response.text)
    assert beside is not None and message in beside.group(1)
    kept = "Claire Martin" if field != "contact_name" else "claire.martin@chu-poitiers.fr"
    assert kept in response.text  # the user's input is kept
    assert state(reference_loaded) == before


def test_html_in_every_text_field_is_rendered_escaped(client: TestClient, token: str) -> None:
    text_fields = ("department", "contact_name", "delivery_address", "urgency_reason", "notes")
    response = submit(client, token, open_form(client, token), **dict.fromkeys(text_fields, SCRIPT))
    for page in (client.get(response.headers["location"]), client.get(f"/h/{token}/commandes")):
        assert SCRIPT not in page.text
        assert "&lt;script&gt;" in page.text
    refused = submit(client, token, open_form(client, token), quantity=0, notes=SCRIPT)
    assert SCRIPT not in refused.text and "&lt;script&gt;" in refused.text


@pytest.mark.parametrize("csrf", [None, "", "1700000000.deadbeef", "garbage"])
def test_a_missing_or_wrong_csrf_token_is_refused_and_changes_nothing(
    client: TestClient, token: str, reference_loaded: Engine, csrf: str | None
) -> None:
    hidden = open_form(client, token)
    if csrf is None:
        del hidden["csrf_token"]
    else:
        hidden["csrf_token"] = csrf
    before = state(reference_loaded)
    response = submit(client, token, hidden)
    assert response.status_code == 403
    assert "Claire Martin" in response.text
    assert state(reference_loaded) == before


def test_a_csrf_token_of_another_hospital_is_refused(
    client: TestClient, token: str, reference_loaded: Engine
) -> None:
    with unit_of_work(reference_loaded) as session:
        other = links.invite(session=session, hospital=OTHER_HOSPITAL, actor="t").token
    response = submit(client, token, open_form(client, other))
    assert response.status_code == 403
    assert order_count(reference_loaded) == 0


def test_wrong_revoked_or_absent_links_give_the_same_404(
    client: TestClient, token: str, reference_loaded: Engine
) -> None:
    with unit_of_work(reference_loaded) as session:
        revoked = links.invite(session=session, hospital=OTHER_HOSPITAL, actor="t").token
        links.revoke(session=session, hospital=OTHER_HOSPITAL, actor="t")
    hidden = open_form(client, token)
    before = state(reference_loaded)
    bodies = set()
    altered = token[:-1] + ("A" if token[-1] != "A" else "B")  # never the token itself
    for bad in (altered, revoked, "x", "../etc/passwd", "chu-de-poitiers"):
        for response in (
            client.get(f"/h/{bad}"),
            client.get(f"/h/{bad}/commandes"),
            submit(client, bad, hidden),
        ):
            assert response.status_code == 404
            assert HOSPITAL not in response.text and OTHER_HOSPITAL not in response.text
            bodies.add(response.text)
    assert client.get("/h/").status_code == 404
    assert len(bodies) == 1
    assert state(reference_loaded) == before


def test_the_status_page_shows_progress_and_the_expected_date_once_planned(
    client: TestClient, token: str, reference_loaded: Engine
) -> None:
    from orders import lifecycle

    response = submit(client, token, open_form(client, token))
    reference = response.headers["location"].split("/")[-1].split("?")[0]
    expected = today() + timedelta(days=5)
    with unit_of_work(reference_loaded) as session:
        lifecycle.accept_order(session=session, reference=reference, actor="manager")
        lifecycle.plan_order(
            session=session, reference=reference, actor="manager", expected_delivery=expected
        )
    page = client.get(f"/h/{token}/commandes/{reference}").text
    assert "planifiée" in page
    assert date.strftime(expected, "%d/%m/%Y") in page
    assert re.search(r"Allouées</th><td class=\"n\">250<", page)
    assert re.search(r"Livrées</th><td class=\"n\">0<", page)


def test_an_order_of_another_hospital_is_not_shown(
    client: TestClient, token: str, reference_loaded: Engine
) -> None:
    with unit_of_work(reference_loaded) as session:
        other = links.invite(session=session, hospital=OTHER_HOSPITAL, actor="t").token
    response = submit(client, other, open_form(client, other))
    location = response.headers["location"].replace(other, token)
    assert client.get(location).status_code == 404


def test_an_oversized_form_is_refused_with_413_and_changes_nothing(
    client: TestClient, token: str, reference_loaded: Engine
) -> None:
    hidden = open_form(client, token)
    before = state(reference_loaded)
    response = submit(client, token, hidden, notes="x" * 70_000)
    assert response.status_code == 413
    assert state(reference_loaded) == before


def test_a_burst_on_one_link_gets_a_429_page_with_retry_after(
    web_settings: Settings, token: str
) -> None:
    tight = web_settings.model_copy(update={"web_rate_per_link": 2})
    with TestClient(create_app(tight)) as client:
        codes = [client.get(f"/h/{token}") for _ in range(3)]
    assert [r.status_code for r in codes] == [200, 200, 429]
    assert int(codes[2].headers["retry-after"]) >= 1
    assert "trop de requêtes" in codes[2].text


@pytest.mark.parametrize("written", ["2 000", "2\u202f000", "2\u00a0000", " 2000 "])
def test_quantities_written_with_spaces_are_understood(
    client: TestClient, token: str, written: str
) -> None:
    response = submit(client, token, open_form(client, token), quantity=written)
    assert response.status_code == 303
    detail = client.get(response.headers["location"])
    assert "2000 × " in detail.text


def test_every_error_shows_on_the_first_submit_tied_to_its_field(
    client: TestClient, token: str
) -> None:
    response = submit(
        client,
        token,
        open_form(client, token),
        quantity="beaucoup",
        priority="critical",
        urgency_reason="",
        contact_email="pas-une-adresse",
        delivery_address="",
    )
    assert response.status_code == 422
    page = response.text
    for name in ("quantity", "urgency_reason", "contact_email", "delivery_address"):
        assert f'id="{name}-error"' in page
        assert re.search(
            rf'id="{name}"[^>]*aria-invalid="true" aria-describedby="{name}-error"', page
        )
    assert "Précisez la raison de l&#39;urgence." in page
    assert page.count("autofocus") == 1
    assert re.search(r'id="contact_email"[^>]*autofocus', page)  # the first invalid field
    assert "(jj/mm/aaaa)" in page and "AAAA" not in page
    assert page.count('class="req"') >= 8


def test_the_first_address_becomes_a_site_the_form_then_offers(
    client: TestClient, token: str
) -> None:
    assert submit(client, token, open_form(client, token)).status_code == 303
    page = client.get(f"/h/{token}").text
    site = re.search(r'<option value="(\d+)">2 rue de la Milétrie, 86000 Poitiers', page)
    assert site is not None
    chosen = submit(
        client,
        token,
        form_fields(page),
        site=site.group(1),
        delivery_address="",
        purchase_order="BC-9",
    )
    assert chosen.status_code == 303
    detail = client.get(chosen.headers["location"]).text
    assert "BC-9" in detail and "2 rue de la Milétrie" in detail


def test_history_times_are_paris_times(client: TestClient, token: str) -> None:
    response = submit(client, token, open_form(client, token))
    detail = client.get(response.headers["location"]).text
    stamp = re.search(r'<time datetime="([^"]+)">([^<]+)</time>', detail)
    assert stamp is not None
    utc = datetime.fromisoformat(stamp.group(1))
    assert stamp.group(2) == utc.astimezone(ZoneInfo("Europe/Paris")).strftime("%d/%m/%Y %H:%M")
    assert "UTC" not in detail


def test_the_hospital_cancels_a_received_order_from_its_page(
    client: TestClient, token: str
) -> None:
    created = submit(client, token, open_form(client, token))
    detail = client.get(created.headers["location"]).text
    assert "Annuler la commande" in detail
    url = created.headers["location"].split("?")[0]
    fields = form_fields(detail)
    refused = client.post(f"{url}/annulation", data={**fields, "reason": " "})
    assert refused.status_code == 422 and 'aria-invalid="true"' in refused.text
    done = client.post(f"{url}/annulation", data={**fields, "reason": "commande en double"})
    assert done.status_code == 200 and "annulée" in done.text
    assert "Annuler la commande" not in done.text


def pdf_text(data: bytes) -> str:
    """The page content of a PDF (its streams inflated), to find the words it prints."""
    import base64
    import binascii
    import zlib

    parts = []
    for stream in re.findall(rb"stream\r?\n(.*?)endstream", data, re.S):
        body = stream.strip()
        try:
            if body.endswith(b"~>"):  # reportlab's ASCII85 wrapping
                body = base64.a85decode(body[:-2])
            parts.append(zlib.decompress(body).decode("latin-1"))
        except (zlib.error, ValueError, binascii.Error):
            continue
    return "\n".join(parts)


def test_the_status_page_offers_a_printable_order_with_the_hospitals_reference(
    client: TestClient, token: str
) -> None:
    created = submit(client, token, open_form(client, token), purchase_order="BC-2026-417")
    detail = client.get(created.headers["location"]).text
    link = re.search(r'href="([^"]+/pdf)" id="pdf"', detail)
    assert link is not None
    answer = client.get(link.group(1))
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/pdf"
    assert answer.content.startswith(b"%PDF")
    text = pdf_text(answer.content)
    reference = created.headers["location"].split("/")[-1].split("?")[0]
    assert reference in text and "BC-2026-417" in text and "250" in text
    assert client.get(link.group(1).replace(token, "x" * 43)).status_code == 404


def test_the_server_keeps_idle_connections_longer_than_client_pools_do(
    web_settings: Settings, reference_loaded: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pooled client drops an idle connection before the server closes it, so it never sends
    a request on a connection the server is closing (httpx.ReadError, nothing in the log)."""
    import httpx
    import uvicorn

    from orders import web

    ran: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: ran.update(options))
    web.serve(web_settings, host="127.0.0.1", port=8000)
    served = web.server(object(), web_settings, host="127.0.0.1", port=8000, grace_s=5)
    client_expiry = httpx.Limits().keepalive_expiry
    assert client_expiry is not None
    assert ran["timeout_keep_alive"] > client_expiry
    assert served.config.timeout_keep_alive > client_expiry
